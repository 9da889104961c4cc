"""`python -m hashtag_kit evaluate fusion`: the summary on hand-made rankings, and on the smoke
run that seed 0 retrains exactly notebook 02's models."""

import json

import pytest

from hashtag_kit.evaluate import main
from hashtag_kit.fusion_study import (
    STAGE,
    SUBSETS,
    fusion_study,
    mean_ranking,
    notebook_settings,
    summarise,
)
from hashtag_kit.run import ENCODER_DECODER
from tools.readme_results import render_evaluation

MAIN = "encoder-decoder weighted+user"
SUM = "encoder-decoder sum+user"


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


def test_bad_fusion_or_seeds_are_refused(tmp_path):
    with pytest.raises(ValueError, match="fusions must be among"):
        fusion_study(tmp_path, tmp_path, fusions=["gated"])
    with pytest.raises(ValueError, match="distinct"):
        fusion_study(tmp_path, tmp_path, seeds=[1, 1])
    # the image-only reference is a known variant: the call goes on to look for notebook 02
    with pytest.raises(FileNotFoundError, match="run notebook 02"):
        fusion_study(tmp_path, tmp_path, fusions=["image-only"])


@pytest.fixture(scope="module")
def study(smoke_notebook, smoke_run_dir, tmp_path_factory):
    nb = json.loads((smoke_notebook(ENCODER_DECODER) / "metrics.json").read_text())
    out = tmp_path_factory.mktemp("fusion_study")
    m = fusion_study(
        smoke_run_dir, out, seeds=[0], fusions=["weighted", "sum", "image-only"], verbose=False
    )
    return nb, m, out / STAGE / "metrics.json"


@pytest.mark.smoke
def test_seed_0_retrains_notebook_02s_models_exactly(study):
    nb, m, _ = study
    assert nb["extra"]["train_config"][MAIN]["seed"] == 0
    per_seed = m["extra"]["per_seed"]
    for fusion, name in (("weighted", MAIN), ("sum", SUM)):
        assert per_seed["test"][fusion]["0"] == nb["models"][name]["ranking"]
        assert per_seed["without_text"][fusion]["0"] == nb["extra"]["without_text"][name]
        assert per_seed["without_image"][fusion]["0"] == nb["extra"]["without_image"][name]


@pytest.mark.smoke
def test_metrics_follow_the_schema_and_the_summary_matches_per_seed(study):
    nb, m, path = study
    assert m["stage"] == STAGE and m["split"] == nb["split"]
    assert set(m["extra"]["per_seed"]) == set(SUBSETS)
    proto = m["extra"]["protocol"]
    assert proto["beam_width"] == nb["extra"]["beam_width"]
    assert proto["n_test"] == nb["extra"]["n_test_posts"]
    assert proto["train_config"] == nb["extra"]["train_config"][MAIN]
    for fusion in ("weighted", "sum"):
        entry = m["models"][f"{fusion} fusion, mean of 1 seeds"]
        assert {"family", "description", "paper", "ranking", "trainable_params"} <= set(entry)
        assert entry["variant"]["fusion"] == fusion and entry["trainable_params"] > 0
        for subset in SUBSETS:
            f1 = m["extra"]["per_seed"][subset][fusion]["0"]["f1"]["5"]
            assert m["extra"]["summary"][subset][fusion]["f1@5"]["mean"] == pytest.approx(f1)
    diff = (
        m["extra"]["per_seed"]["without_text"]["weighted"]["0"]["f1"]["5"]
        - m["extra"]["per_seed"]["without_text"]["sum"]["0"]["f1"]["5"]
    )
    pair = m["extra"]["pairs"]["without_text"]["weighted vs sum"]
    assert pair["mean_difference"] == pytest.approx(diff)
    assert pair["ahead"] == int(diff > 0) and pair["behind"] == int(diff < 0)
    # the reference reads the image alone: removing the text changes nothing, removing the
    # image leaves it nothing
    ref = m["models"]["trained on the image only, mean of 1 seeds"]
    assert ref["variant"]["modality"] == "image"
    seed0 = {subset: m["extra"]["per_seed"][subset]["image-only"]["0"] for subset in SUBSETS}
    assert seed0["without_text"] == seed0["test"]
    assert seed0["without_image"]["f1"]["5"] < 0.5 * seed0["test"]["f1"]["5"]
    lines = "\n".join(render_evaluation(path))
    assert "Seed study" in lines and "| weighted vs sum |" in lines
    assert "| weighted vs image-only |" in lines and "trained on the image alone" in lines
    w = m["extra"]["summary"]["without_text"]["weighted"]["f1@5"]["mean"]
    assert f"{w:.3f} ± 0.000" in lines
