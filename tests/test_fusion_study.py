"""The fusion seed study's shared parts (`hashtag_kit.evaluation.seed_study`) on hand-made
rankings, and `python -m hashtag_kit evaluate fusion`'s checks; notebook 06 itself:
tests/test_notebook_06.py."""

import json

import pytest

from hashtag_kit.cli import main as cli_main
from hashtag_kit.evaluation.seed_study import (
    check_study,
    mean_ranking,
    notebook_settings,
    summarise,
)
from hashtag_kit.run import ENCODER_DECODER


def _ranking(f1, hit=0.5):
    return {"f1": {"5": f1}, "hit_rate": {"5": hit}, "mrr": f1 / 2}


def test_summary_means_sds_and_paired_counts():
    per_seed = {
        "test": {
            "weighted": {"0": _ranking(0.5), "1": _ranking(0.6), "2": _ranking(0.4)},
            "sum": {"0": _ranking(0.4), "1": _ranking(0.6), "2": _ranking(0.5)},
        }
    }
    summary, pairs = summarise(per_seed, [0, 1, 2], ["weighted", "sum"])
    w = summary["test"]["weighted"]["f1@5"]
    assert w["values"] == [0.5, 0.6, 0.4]
    assert w["mean"] == pytest.approx(0.5) and w["sd"] == pytest.approx(0.1)
    p = pairs["test"]["weighted vs sum"]
    # seed 0: +0.1, seed 1: tie, seed 2: -0.1
    assert (p["ahead"], p["behind"], p["ties"], p["n_seeds"]) == (1, 1, 1, 3)
    assert p["mean_difference"] == pytest.approx(0.0)
    one, _ = summarise({"test": {"sum": {"3": _ranking(0.2)}}}, [3], ["sum"])
    assert one["test"]["sum"]["f1@5"]["sd"] == 0.0


def test_mean_ranking_averages_every_metric_at_every_k():
    m = mean_ranking([_ranking(0.2, 1.0), _ranking(0.4, 0.0)])
    assert m["f1"]["5"] == pytest.approx(0.3)
    assert m["hit_rate"]["5"] == pytest.approx(0.5)
    assert m["mrr"] == pytest.approx(0.15)


def test_without_notebook_02_the_error_says_what_to_run(tmp_path, capsys):
    with pytest.raises(FileNotFoundError, match="run notebook 02_encoder_decoder_hashtags"):
        notebook_settings(tmp_path)
    assert main(["fusion", "--run", str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    assert "02_encoder_decoder_hashtags" in capsys.readouterr().err
    stage = tmp_path / ENCODER_DECODER
    stage.mkdir()
    (stage / "metrics.json").write_text(json.dumps({"split": "random", "extra": {}}))
    with pytest.raises(ValueError, match="train_config"):
        notebook_settings(tmp_path)


def test_bad_fusion_or_seeds_are_refused(tmp_path, capsys):
    with pytest.raises(ValueError, match="fusions must be among"):
        check_study([0], ["gated"])
    with pytest.raises(ValueError, match="distinct"):
        check_study([1, 1], ["sum"])
    with pytest.raises(ValueError, match="seeds"):
        check_study([-3], ["sum"])
    assert check_study((2, "3"), ("image-only",)) == ([2, 3], ["image-only"])
    # the command checks before it starts the notebook
    assert main(["fusion", "--run", str(tmp_path), "--fusions", "gated"]) == 2
    assert "fusions must be among" in capsys.readouterr().err


def main(argv: list[str]) -> int:
    """`python -m hashtag_kit evaluate ...`"""
    return cli_main(["evaluate", *argv])
