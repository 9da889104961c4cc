"""`bench cli` plumbing on a tiny run (the kit's encoder-decoder, untrained, sized for the real
offline encoders): both tables print with their rows and ratios. The timings themselves are
read from the printed figures, never asserted."""

from __future__ import annotations

import os
import re
from pathlib import Path

import keras
import pytest
from PIL import Image

import hashtag_kit
from tools.bench import main as bench_main
from tools.bench.cli import cold_env, pick_post

TAGS = ["cat", "kitten", "dog", "beach", "sunset", "food", "coffee"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> tuple[Path, Path]:
    from skimage import data as skdata

    from hashtag_kit.encoders.image import get_image_encoder
    from hashtag_kit.encoders.text import get_text_encoder
    from hashtag_kit.models.encoder_decoder import HashtagEncoderDecoder
    from hashtag_kit.stage import save_stage
    from hashtag_kit.vocabulary import SPECIAL_TOKENS

    img, txt = get_image_encoder("efficientnet_lite0"), get_text_encoder("use_multilingual_v3")
    keras.utils.set_random_seed(0)
    tokens = SPECIAL_TOKENS + TAGS
    model = HashtagEncoderDecoder(
        vocab_size=len(tokens), image_dim=img.dim, text_dim=txt.dim, units=16, embed_dim=8
    )
    model.build()
    cfg = {
        "image_encoder": img.info(),
        "text_encoder": txt.info(),
        "history_len": 4,
        "existing_len": 3,
    }
    run = tmp_path_factory.mktemp("bench_cli_run")
    save_stage(run / "02_encoder_decoder_hashtags", model, tokens, {}, cfg)
    photo = run / "chelsea.jpg"
    Image.fromarray(skdata.chelsea()).save(photo, quality=90)
    return run, photo


def test_bench_cli_prints_cold_and_warm_tables_with_ratios(tiny_run, capsys):
    run, photo = tiny_run
    argv = ["cli", "--run", str(run), "--image", str(photo), "--text", "cutest cat", "--tiny"]
    assert bench_main(argv) == 0
    out = capsys.readouterr().out
    assert "== bench cli" in out and f"photo: {photo}" in out
    number = r"\d+\.\d+"
    # cold: one row per command (median, min, max seconds, stderr lines), then the ratio
    tf_row = re.search(rf'^python -c "import tensorflow"\s+({number})\s+', out, re.M)
    rec_row = re.search(rf"^python -m hashtag_kit recommend .*?\s+({number})\s+", out, re.M)
    assert tf_row and rec_row, out
    assert float(tf_row.group(1)) > 0 and float(rec_row.group(1)) > 0
    ratio = re.search(rf"ratio recommend / import tensorflow: ({number})x \(target <= 1.4x: ", out)
    assert ratio and float(ratio.group(1)) > 0, out
    assert re.search(r"^per pair: \d+\.\d+$", out, re.M)  # --tiny: one pair
    assert re.search(r"^recommend stdout: \d+ lines, first:  1\. #", out, re.M), out
    steps = re.findall(rf"^  (.+?)\s+({number}) s$", out, re.M)
    assert [name for name, _ in steps][0].startswith("import tensorflow + keras")
    assert steps[-1][0] == "decode (beam 3)" and len(steps) == 7, steps
    # warm: bare and server rows with p50 and p90, then the ratio
    for name in ("bare: image encoder", "server: POST /recommend", "beyond bare: text encoder"):
        assert re.search(rf"^\s*{name}.*\s{number}\s+{number}$", out, re.M), (name, out)
    assert re.search(rf"ratio server / bare \(p50\): {number}x \(target <= 1.5x: ", out), out


def test_bench_cli_skips_without_a_run_and_picks_a_post(tmp_path, capsys):
    assert bench_main(["cli", "--run", str(tmp_path / "none")]) == 0
    assert "skipped:" in capsys.readouterr().out
    assert pick_post(tmp_path, "a.jpg", "caption") == ("a.jpg", "caption")
    with pytest.raises(ValueError, match="--image"):
        pick_post(tmp_path, None, None)  # no manifest to take a post from


def test_cold_runs_do_not_inherit_the_quieting_variables(monkeypatch):
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    monkeypatch.setenv("HASHTAG_KIT_VERBOSE", "1")
    env = cold_env()
    assert "TF_CPP_MIN_LOG_LEVEL" not in env and "HASHTAG_KIT_VERBOSE" not in env
    root = str(Path(hashtag_kit.__file__).resolve().parent.parent)
    assert env["PYTHONPATH"].split(os.pathsep)[0] == root  # this code, not an installed copy
