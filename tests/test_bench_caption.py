"""`bench caption`: both training loops' captions/s and their ratio on tiny sizes (no timing
assertions), matched parameter counts, and the synthetic caption data."""

from __future__ import annotations

import re

import numpy as np
import pytest

from hashtag_kit.vocabulary import END, N_SPECIAL, START
from tools.bench import main as bench_main
from tools.bench.caption import (
    matched_units,
    synthetic_caption_data,
    tutorial_params,
)

NUMBER = r"(\d+(?:\.\d+)?)"


def _figures(out: str, loop: str) -> tuple[float, float, float, float]:
    """captions/s, ms/step, wall captions/s, first step s of one loop's row."""
    m = re.search(rf"^{loop}\s+" + r"\s+".join([NUMBER] * 4) + r"\s*$", out, re.M)
    assert m, f"no row for {loop!r} in:\n{out}"
    return tuple(float(v) for v in m.groups())


def test_bench_caption_prints_both_loops_and_their_ratio(capsys):
    assert bench_main(["caption", "--tiny", "--regions", "9"]) == 0
    out = capsys.readouterr().out
    assert "== bench caption" in out and "data: 8 random captions" in out
    assert "random float16 9x16 grids" in out  # --regions: e.g. 196 for a 14x14 grid
    kit = _figures(out, "kit train_caption_model")
    tutorial = _figures(out, "tutorial tf.function train_step")
    for per_s, ms, wall_per_s, first in (kit, tutorial):
        assert per_s > 0 and ms > 0 and wall_per_s > 0 and first > 0
        assert per_s == pytest.approx(4 / (ms / 1000), rel=0.02, abs=0.2)  # batch 4
    ratio = re.search(rf"ratio kit/tutorial: {NUMBER}x \(target >= 1.3x: (met|NOT met)\)", out)
    assert ratio and float(ratio[1]) == pytest.approx(kit[0] / tutorial[0], rel=0.02, abs=0.01)
    counts = [int(c.replace(",", "")) for c in re.findall(r"([\d,]+) trainable params", out)]
    assert len(counts) == 2 and abs(counts[1] - counts[0]) <= 0.02 * counts[0]
    assert re.search(r"first call [\d.]+ s .*first step [\d.]+ s.*second call [\d.]+ s", out)


def test_tutorial_units_match_the_kit_model_within_two_percent():
    """At the default (Flickr8k) sizes, for the default and the min_count-5 vocabulary."""
    from hashtag_kit.models.caption_decoder import ShowAttendTellDecoder

    for vocab in (4509, 2540):
        kit = ShowAttendTellDecoder(vocab, embed_dim=256, units=512, attention_units=256)
        kit.build([(None, 49, 1280), (None, 20)])
        target = int(sum(np.prod(w.shape) for w in kit.trainable_weights))
        units = matched_units(target, vocab, 256, 1280)
        assert abs(tutorial_params(vocab, 256, units, 1280) - target) <= 0.02 * target


def test_synthetic_caption_data_has_realistic_captions():
    data = synthetic_caption_data(500, vocab_size=30, max_length=12, seed=1)
    assert data.grid.shape == (100, 49, 1280) and data.grid.dtype == np.float16
    assert data.pair_tokens.shape == (500, 13) and data.pair_image.max() == 99
    tokens = data.pair_tokens
    assert (tokens[:, 0] == START).all()
    ends = np.argmax(tokens == END, axis=1)
    assert (ends >= 2).all() and (ends <= 12).all()  # 1 .. 11 words, then <end>
    for row, end in zip(tokens, ends, strict=True):
        assert (
            (row[1:end] >= N_SPECIAL).all()
            and (row[1:end] < 30).all()
            and (row[end + 1 :] == 0).all()
        )
    assert 9 < (ends - 1).mean() < 11  # about Flickr8k's 10.8 words, a few cut at 11
