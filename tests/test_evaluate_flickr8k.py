"""`python -m hashtag_kit evaluate flickr8k`: user errors (one line, exit 2), and, on real data,
a finished smoke Flickr8k run scored on a fake "test" split made of renamed dev photos, whose
figures must equal those of the same photos scored as the real dev split.

The fake folder is built in tmp_path in Flickr8k's own format: the real token file plus the
renamed photos' captions, the renamed JPEG copies, and a `Flickr_8k.testImages.txt` listing
them (and two names whose photo is missing, to be counted). Nothing is copied into the project.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from hashtag_kit.cli import main as cli_main
from hashtag_kit.evaluation.flickr8k import (
    CAPTION_METRICS,
    CAPTION_MODELS,
    HASHTAG_MODELS,
    SCHEMA_VERSION,
    format_table,
)
from hashtag_kit.run import write_json

N_PHOTOS = 20
N_MISSING = 2
#: the top-level keys metrics.json always has (module docstring)
SCHEMA_KEYS = {
    "schema_version",
    "evaluation",
    "run",
    "run_info",
    "split",
    "data_dir",
    "images_dir",
    "n_listed",
    "n_photos",
    "n_hashtag_photos",
    "skipped",
    "encoders",
    "run_encoders",
    "warnings",
    "settings",
    "captions",
    "hashtags",
    "missing",
    "samples",
    "report",
    "seconds",
    "environment",
}
SKIPPED_KEYS = {
    "no_captions",
    "photo_missing",
    "unreadable_photo",
    "beyond_limit",
    "no_tag_in_vocab",
    "in_run_training",
}


def _flat(tree, prefix="") -> dict:
    """{"a/b/c": number} of a nested dict (None kept: METEOR without Java)."""
    if isinstance(tree, dict):
        out = {}
        for k, v in tree.items():
            out.update(_flat(v, f"{prefix}{k}/"))
        return out
    return {prefix.rstrip("/"): tree}


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err, err
    return err


def _fake_run(path: Path, data_dir: Path) -> Path:
    """A run directory with notebook 01's files only (enough to reach the data checks)."""
    write_json(
        path / "run.json",
        {
            "dataset": "flickr8k",
            "data_dir": str(data_dir),
            "preprocess": {"loader_options": None},
            "encoders": {"image": {"name": "efficientnet_lite0"}, "text": {"name": "x"}},
        },
    )
    (path / "01_preprocess").mkdir()
    (path / "01_preprocess" / "posts.jsonl").write_text("")
    write_json(path / "01_preprocess" / "splits.json", {"official": {"train": []}})
    write_json(path / "01_preprocess" / "vocab.json", {"hashtags": ["dog"]})
    return path


@pytest.mark.parametrize(
    "args, message",
    [
        (["--split", "train"], "--split must be one of ['dev', 'test'], got 'train'"),
        (["--split", "dev", "--beam", "0"], "--beam must be a whole number from 1 to 64"),
        (["--split", "dev", "--beam", "3000000000"], "--beam must be a whole number from 1 to 64"),
        (["--split", "dev", "--limit", "-1"], "--limit must be 0 (all)"),
        (["--split", "dev", "--length-penalty", "-1"], "--length-penalty must be a number >= 0"),
        (["--split", "dev", "--length-penalty", "nan"], "--length-penalty must be a number >= 0"),
        (["--split", "dev", "--bogus"], "unrecognized arguments: --bogus"),
        ([], "the following arguments are required: --split"),
    ],
)
def test_bad_options_are_one_line_errors(tmp_path, capsys, args, message):
    assert main(["--run", str(tmp_path), *args]) == 2
    assert message in _one_line_error(capsys)


def test_run_errors_name_the_file(tmp_path, capsys):
    assert main(["--run", str(tmp_path / "nope"), "--split", "dev"]) == 2
    assert "is not a run directory" in _one_line_error(capsys)
    assert main(["--run", str(tmp_path), "--split", "dev"]) == 2  # a folder without run.json
    assert f"{tmp_path} is not a run directory (no run.json" in _one_line_error(capsys)
    write_json(tmp_path / "run.json", {"dataset": "embedded"})
    assert main(["--run", str(tmp_path), "--split", "dev"]) == 2
    assert "not 'flickr8k'" in _one_line_error(capsys)
    write_json(tmp_path / "run.json", {"dataset": "flickr8k"})
    assert main(["--run", str(tmp_path), "--split", "dev"]) == 2
    assert "01_preprocess/posts.jsonl is missing" in _one_line_error(capsys)


_BOGUS_OPTIONS = {
    "dataset": "flickr8k",
    "preprocess": {"loader_options": {"bogus": 1}},
    "encoders": {"image": {"name": "efficientnet_lite0"}, "text": {"name": "x"}},
}


@pytest.mark.parametrize(
    "name, text, message",
    [
        ("run.json", '{"dataset": "flic', "run.json: not valid JSON"),
        ("run.json", "[1, 2]", "run.json: a list, not a JSON object"),
        ("run.json", json.dumps(_BOGUS_OPTIONS), "run.json: preprocess.loader_options {'bogus'"),
        (
            "run.json",
            json.dumps({**_BOGUS_OPTIONS, "preprocess": "x"}),
            "run.json: 'preprocess' is not a JSON object",
        ),
        ("run.json", '{"dataset": "caf\udce9"}', "run.json is not UTF-8 text"),
        ("01_preprocess/vocab.json", '{"hash', "01_preprocess/vocab.json: not valid JSON"),
        ("01_preprocess/vocab.json", "{}", "01_preprocess/vocab.json: no list of hashtags"),
        ("01_preprocess/splits.json", "[]", "01_preprocess/splits.json: a list, not a JSON"),
        ("01_preprocess/posts.jsonl", "garbage\n", "posts.jsonl:1: not a post manifest line"),
        ("01_preprocess/posts.jsonl", "\udce9\n", "posts.jsonl: not UTF-8 text (invalid"),
        (
            "01_preprocess/splits.json",
            '{"official": {"train": ["zzz.jpg"]}}',
            "splits.json: split 'official' names 1 post(s) not in posts.jsonl (e.g. 'zzz.jpg')",
        ),
        ("02_encoder_decoder_hashtags/model_config.json", "[", "model_config.json: not a JSON"),
        (  # a decoder's beam holds max_length steps: 10 million took 5 GB, then a traceback
            "04_caption_decoder/metrics.json",
            json.dumps({"extra": {"caption_training": {"max_caption_length": 10_001}}}),
            "metrics.json: extra.caption_training.max_caption_length is 10,001, not a length in "
            "words (1 to 10,000)",
        ),
        (
            "03_attention_baseline/metrics.json",
            json.dumps({"extra": {"max_len": 0}}),
            "metrics.json: extra.max_len is 0, not a length in words",
        ),
    ],
)
def test_damaged_run_files_are_one_line_errors_naming_the_file(
    tmp_path, capsys, name, text, message
):
    run = _fake_run(tmp_path / "run", tmp_path)
    (run / name).parent.mkdir(exist_ok=True)
    (run / name).write_text(text, errors="surrogateescape")  # \udce9: the byte 0xe9
    assert main(["--run", str(run), "--split", "test"]) == 2
    err = _one_line_error(capsys)
    assert message in err and str(run) in err, err


@pytest.mark.parametrize("sub", ["", "sub"])
def test_out_that_is_a_file_is_a_one_line_error(tmp_path, capsys, sub):
    run = _fake_run(tmp_path / "run", tmp_path)
    (tmp_path / "taken").write_text("not a folder")
    out = tmp_path / "taken" / sub if sub else tmp_path / "taken"
    assert main(["--run", str(run), "--split", "test", "--out", str(out)]) == 2
    assert f"{tmp_path / 'taken'} is a file, not a folder" in _one_line_error(capsys)
    assert (tmp_path / "taken").read_text() == "not a folder"


def test_format_table_says_what_is_missing():
    ranking = {m: {"5": 0.5} for m in ("hit_rate", "precision", "recall", "f1")} | {"mrr": 0.4}
    table = format_table(
        {
            "split": "test",
            "n_photos": 3,
            "n_hashtag_photos": 2,
            "skipped": {"photo_missing": 1, "beyond_limit": 0},
            "captions": {"merge greedy": dict.fromkeys(CAPTION_METRICS, 0.25) | {"meteor": None}},
            "hashtags": {"popularity": ranking},
            "missing": {"attention LSTM/BiLSTM": "no model.keras"},
        }
    )
    assert "Flickr8k test: 3 photos (2 with a vocabulary tag); 1 photo_missing" in table
    assert "merge greedy" in table and "popularity" in table
    assert "missing: attention LSTM/BiLSTM: no model.keras" in table


@pytest.mark.realdata
def test_no_photo_of_the_split_is_an_error_naming_the_folder(real_data, tmp_path, capsys):
    """The shared copy withholds the 1,000 test photos: one line naming folder and list."""
    flickr = real_data / "flickr8k"
    run = _fake_run(tmp_path / "run", flickr)
    assert main(["--run", str(run), "--split", "test"]) == 2
    err = _one_line_error(capsys)
    assert "none of the 1000 photos of the test split (Flickr_8k.testImages.txt)" in err
    assert str(flickr / "Flicker8k_Dataset") in err
    empty = tmp_path / "empty"
    empty.mkdir()
    shutil.copy(flickr / "Flickr8k.token.txt", empty)
    assert main(["--run", str(run), "--split", "dev", "--data-dir", str(empty)]) == 2
    assert "Flickr_8k.devImages.txt is missing or lists no photo" in _one_line_error(capsys)


def test_no_readable_photo_is_an_error_naming_a_photo(tmp_path, capsys):
    """Every photo of the list present but unreadable (empty, truncated): one line, exit 2."""
    from PIL import Image

    root = tmp_path / "flickr8k"
    (root / "Flicker8k_Dataset").mkdir(parents=True)
    names = ["empty.jpg", "cut.jpg"]
    (root / "Flicker8k_Dataset" / "empty.jpg").write_bytes(b"")
    Image.new("RGB", (64, 64), "red").save(root / "whole.jpg", "JPEG")
    data = (root / "whole.jpg").read_bytes()
    (root / "Flicker8k_Dataset" / "cut.jpg").write_bytes(data[: len(data) // 2])
    lines = [f"{n}#{j}\ta dog runs on the grass" for n in names for j in range(5)]
    (root / "Flickr8k.token.txt").write_text("\n".join(lines) + "\n")
    (root / "Flickr_8k.testImages.txt").write_text("\n".join(names) + "\n")
    run = _fake_run(tmp_path / "run", root)
    assert main(["--run", str(run), "--split", "test"]) == 2
    err = _one_line_error(capsys)
    assert "none of the 2 photos of the test split in" in err and "can be read" in err
    assert f"{root / 'Flicker8k_Dataset' / 'empty.jpg'}: empty file" in err


def _fake_test_folder(flickr: Path, root: Path, n: int, n_missing: int) -> list[str]:
    """A Flickr8k-format folder whose test list is the first `n` dev photos (token-file order,
    as the evaluation reads them) renamed, plus `n_missing` listed names without a photo.
    Returns the dev names used."""
    from hashtag_kit.data.flickr8k import load_flickr8k
    from hashtag_kit.report import RunReport

    dev = [p for p in load_flickr8k(flickr, RunReport(), split="val") if p.has_image][:n]
    (root / "Flicker8k_Dataset").mkdir(parents=True)
    lines, names = [], []
    for i, p in enumerate(dev):
        name = f"heldout{i:02d}.jpg"
        shutil.copyfile(p.image, root / "Flicker8k_Dataset" / name)
        lines += [f"{name}#{j}\t{c}" for j, c in enumerate(p.captions)]
        names.append(name)
    for i in range(n_missing):
        name = f"absent{i}.jpg"
        lines += [f"{name}#{j}\ta dog runs on the grass" for j in range(5)]
        names.append(name)
    # the real token file too: Flickr8k-tags' plural -> singular map is built from all of it
    token = (flickr / "Flickr8k.token.txt").read_text(encoding="utf-8")
    (root / "Flickr8k.token.txt").write_text(token + "\n".join(lines) + "\n", encoding="utf-8")
    (root / "Flickr_8k.testImages.txt").write_text("\n".join(names) + "\n")
    return [p.id for p in dev]


@pytest.mark.realdata
def test_evaluate_a_finished_run_on_a_fake_test_split(flickr8k_smoke_run, real_data, tmp_path):
    flickr = real_data / "flickr8k"
    fake = tmp_path / "flickr8k-fake"
    dev_names = _fake_test_folder(flickr, fake, N_PHOTOS, N_MISSING)
    out = tmp_path / "test"
    run = str(flickr8k_smoke_run)
    assert main(["--run", run, "--split", "test", "--data-dir", str(fake), "--out", str(out)]) == 0
    m = json.loads((out / "metrics.json").read_text())

    assert set(m) == SCHEMA_KEYS and m["schema_version"] == SCHEMA_VERSION == 1
    assert (m["evaluation"], m["split"], m["n_listed"], m["n_photos"]) == (
        "flickr8k",
        "test",
        N_PHOTOS + N_MISSING,
        N_PHOTOS,
    )
    assert set(m["skipped"]) == SKIPPED_KEYS
    assert m["skipped"]["photo_missing"] == N_MISSING and m["skipped"]["in_run_training"] == 0
    assert m["n_hashtag_photos"] == N_PHOTOS - m["skipped"]["no_tag_in_vocab"] > 0
    run_meta = json.loads((flickr8k_smoke_run / "run.json").read_text())
    for kind in ("image", "text"):  # the run's encoders (same weights) made the features
        assert m["encoders"][kind]["digest"] == run_meta["encoders"][kind]["digest"]
    assert m["missing"] == {}, m["missing"]  # notebooks 02-04 saved every model
    assert list(m["captions"]) == list(CAPTION_MODELS)
    for s in m["captions"].values():
        assert set(s) == {*CAPTION_METRICS, "n_images"} and s["n_images"] == N_PHOTOS
        assert 0 <= s["bleu1"] <= 1 and s["cider"] >= 0
    assert list(m["hashtags"]) == list(HASHTAG_MODELS)
    for r in m["hashtags"].values():
        assert r["n_posts"] == m["n_hashtag_photos"] and set(r["f1"]) == {
            str(k) for k in range(1, 11)
        }
    # reading the captions the tags come from beats the most frequent caption's tags
    f1 = {name: r["f1"]["5"] for name, r in m["hashtags"].items()}
    assert f1["captions->tags human caption #0"] > f1["captions->tags most frequent caption"]
    assert len(m["samples"]) == 5 and m["samples"][0]["id"] == "heldout00.jpg"
    recorded = json.loads((flickr8k_smoke_run / "04_caption_decoder" / "metrics.json").read_text())
    penalty = recorded["extra"]["length_penalty"]  # the run's beam decodes with its own
    assert m["settings"]["length_penalty"] == penalty
    assert (
        m["settings"]["length_penalty_from"]
        == "04_caption_decoder/metrics.json extra.length_penalty"
    )
    assert m["samples"][0]["caption"] and m["samples"][0]["hashtags"]

    # the same photos under their real names, scored as the dev split: the same figures
    dev_out = tmp_path / "dev"
    args = ["--run", run, "--split", "dev", "--data-dir", str(flickr), "--limit", str(N_PHOTOS)]
    args += ["--length-penalty", str(penalty)]  # given, as the run recorded it
    assert main([*args, "--out", str(dev_out), "--quiet"]) == 0
    d = json.loads((dev_out / "metrics.json").read_text())
    assert d["settings"]["length_penalty_from"] == "--length-penalty"
    assert [s["id"] for s in d["samples"]] == dev_names[:5]
    assert d["skipped"]["beyond_limit"] == d["n_listed"] - N_PHOTOS
    for part in ("captions", "hashtags"):
        assert _flat(d[part]) == pytest.approx(_flat(m[part]), abs=1e-9)


@pytest.mark.realdata
def test_bad_photos_and_quirky_text_files_are_counted_not_fatal(
    flickr8k_smoke_run, real_data, tmp_path
):
    """A truncated and an empty JPEG, a listed photo without a file and one without captions,
    a token file with CRLF line ends, a BOM, a Latin-1 byte and an empty caption, a test list
    with duplicate and blank lines: scored on the rest, everything left out counted."""
    fake = tmp_path / "flickr8k-quirks"
    _fake_test_folder(real_data / "flickr8k", fake, 6, 1)
    photos = fake / "Flicker8k_Dataset"
    whole = (photos / "heldout01.jpg").read_bytes()
    (photos / "heldout01.jpg").write_bytes(whole[: len(whole) // 2])
    (photos / "heldout02.jpg").write_bytes(b"")
    shutil.copyfile(photos / "heldout00.jpg", photos / "nocaption.jpg")
    token = fake / "Flickr8k.token.txt"
    data = token.read_bytes().replace(b"heldout03.jpg#2\t", b"heldout03.jpg#2\tcaf\xe9 ")
    lines = [
        b"heldout04.jpg#0\t" if x.startswith(b"heldout04.jpg#0\t") else x for x in data.split(b"\n")
    ]
    token.write_bytes(b"\xef\xbb\xbf" + b"\r\n".join(lines))
    listed = fake / "Flickr_8k.testImages.txt"
    names = listed.read_text().split()
    listed.write_text("\n".join(["", names[0], *names, "  ", names[0], "nocaption.jpg", ""]))
    out = tmp_path / "out"
    args = ["--run", str(flickr8k_smoke_run), "--split", "test", "--data-dir", str(fake)]
    assert main([*args, "--out", str(out), "--quiet"]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert (m["n_listed"], m["n_photos"]) == (7, 4)
    assert m["skipped"]["photo_missing"] == 1 and m["skipped"]["unreadable_photo"] == 2
    assert m["skipped"]["no_captions"] == 1  # nocaption.jpg: listed, has a file, no caption line
    assert m["report"]["skipped"] == {
        "malformed_line": 1,  # the Latin-1 byte (the caption, not the photo)
        "empty_caption": 1,
        "split_image_without_captions": 1,
    }
    assert m["report"]["repaired"]["unreadable_image_treated_as_missing"] == 2
    examples = " ".join(m["report"]["examples"]["unreadable_image_treated_as_missing"])
    assert "heldout01.jpg" in examples and "heldout02.jpg" in examples
    assert {s["n_images"] for s in m["captions"].values()} == {4}
    ids = ["heldout00.jpg", "heldout03.jpg", "heldout04.jpg", "heldout05.jpg"]
    assert [s["id"] for s in m["samples"]] == ids


def main(argv: list[str]) -> int:
    """`python -m hashtag_kit evaluate flickr8k ...`"""
    return cli_main(["evaluate", "flickr8k", *argv])


def test_the_runs_images_dir_option_is_where_photos_are_looked_for(real_data, tmp_path):
    """A run whose notebook 01 read its photos from another folder (`loader_options`'
    `images_dir`) is evaluated on that folder unless --images-dir says otherwise; a folder
    that is gone is a one-line error."""
    from hashtag_kit.evaluation.flickr8k import EvaluationError, load_split_posts
    from hashtag_kit.report import RunReport

    flickr = real_data / "flickr8k"
    photos = tmp_path / "photos"
    photos.mkdir()
    dev = (flickr / "Flickr_8k.devImages.txt").read_text().split()[:3]
    for name in dev:
        shutil.copy(flickr / "Flicker8k_Dataset" / name, photos / name)
    vocab = ["dog", "man", "water", "grass", "white", "black"]
    options = {"tags": "held_out", "images_dir": str(photos)}
    posts, counts, where = load_split_posts(
        flickr, "dev", vocab, RunReport(), loader_options=options
    )
    assert Path(where) == photos and counts["photo_missing"] == counts["n_listed"] - 3
    options["images_dir"] = str(tmp_path / "gone")
    with pytest.raises(EvaluationError, match="gone.*is not a folder"):
        load_split_posts(flickr, "dev", vocab, RunReport(), loader_options=options)
