"""Command-line arguments out of range: one line naming the option, before any work."""

import argparse
import sys

import pytest

from hashtag_kit.cli import integer, main

ARG = "error: python -m hashtag_kit"


@pytest.mark.parametrize(
    "argv, message",
    [
        (["features", "RUN", "--shard", "5/4"], "error: --shard: shard '5/4': need 0 <= i < n"),
        (["features", "RUN", "--shard", "x"], "error: --shard: shard must look like i/n"),
        (["features", "RUN", "--batch-size", "0"], f"{ARG} features: argument --batch-size: must"),
        (
            ["embedded", "--n-posts", "-5"],
            f"{ARG} embedded: argument --n-posts: must be at least 20",
        ),
        (
            ["report", "--run", "RUN", "--k", "11"],
            f"{ARG} report: argument --k: must be from 1 to 10",
        ),
        (["preprocess", "--min-tag-freq", "0"], f"{ARG} preprocess: argument --min-tag-freq: must"),
        (["evaluate", "tweets", "--limit", "-1"], f"{ARG} evaluate: argument --limit: must be at"),
        (["evaluate", "fusion", "--seeds", "-3"], "seeds must be distinct, at least one, and >= 0"),
    ],
)
def test_command_arguments_out_of_range_are_one_line(tmp_path, capsys, argv, message):
    """From a probe of the commands: a zero, negative or too large count ended in a traceback
    from numpy or Keras, or (report --k 0) wrote a report of empty columns."""
    argv = [str(tmp_path / "run") if a == "RUN" else a for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert not list(tmp_path.iterdir())  # nothing written


def test_features_names_a_bad_or_missing_manifest_in_one_line(tmp_path, capsys):
    manifest = tmp_path / "posts.jsonl"
    manifest.write_text('{"id": "a", "text": "hi", "hashtags": ["x"]}\n{bad json\n')
    assert main(["features", str(tmp_path / "run"), "--posts", str(manifest)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {manifest}:2: not a post manifest"), err
    assert main(["features", str(tmp_path / "run")]) == 2  # no notebook 01 yet
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"error: {tmp_path / 'run' / '01_preprocess' / 'posts.jsonl'} is missing: "
        "run notebook 01_preprocess (or `make reproduce`) for this run first"
    ], err


def test_integer_type_reads_an_integer_in_range():
    assert integer(0)("0") == 0 and integer(1, 10)("10") == 10
    for parse, text in ((integer(1), "0"), (integer(1, 10), "11"), (integer(0), "2.5")):
        with pytest.raises(argparse.ArgumentTypeError):
            parse(text)


def test_a_checkout_tool_reports_missing_features_in_one_line(tmp_path, monkeypatch, capsys):
    """A benchmark or study on a run whose cached features are gone (from a probe: `bench
    recommend --run` on a run whose feature store was deleted ended in a traceback)."""
    from hashtag_kit import cli

    (tmp_path / "probe_tool.py").write_text(
        "from hashtag_kit.run import MissingFeaturesError\n"
        "def main(argv):\n"
        "    raise MissingFeaturesError('store: 3 cached image features missing or corrupt')\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    probe = (cli._checkout_tool("probe_tool", "probe"), "a probe")
    monkeypatch.setitem(cli.COMMANDS, "bench", probe)
    assert main(["bench"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "3 cached image features missing" in err[0], err
    (tmp_path / "probe_tool.py").write_text("def main(argv):\n    raise RuntimeError('a bug')\n")
    monkeypatch.delitem(sys.modules, "probe_tool", raising=False)
    with pytest.raises(RuntimeError, match="a bug"):  # other errors are not hidden
        main(["bench"])
