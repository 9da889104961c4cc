"""Notebook 06, the fusion seed study, on the smoke run (papermill): seed 0 retrains exactly
notebook 02's models, and its metrics.json follows the schema the README generator reads."""

import json

import pytest

from hashtag_kit.evaluation.seed_study import STAGE, SUBSETS
from hashtag_kit.run import ENCODER_DECODER
from tools.readme_results import render_evaluation
from tools.reproduce import FUSION_STUDY

pytestmark = pytest.mark.smoke

MAIN = "encoder-decoder weighted+user"
SUM = "encoder-decoder sum+user"


@pytest.fixture(scope="module")
def study(smoke_notebook, tmp_path_factory):
    nb = json.loads((smoke_notebook(ENCODER_DECODER) / "metrics.json").read_text())
    out = tmp_path_factory.mktemp("fusion_study")
    smoke_notebook(FUSION_STUDY, OUT_DIR=str(out), FUSIONS=["weighted", "sum", "image-only"])
    path = out / STAGE / "metrics.json"
    return nb, json.loads(path.read_text()), path


def test_seed_0_retrains_notebook_02s_models_exactly(study):
    nb, m, _ = study
    assert nb["extra"]["train_config"][MAIN]["seed"] == 0
    per_seed = m["extra"]["per_seed"]
    for fusion, name in (("weighted", MAIN), ("sum", SUM)):
        assert per_seed["test"][fusion]["0"] == nb["models"][name]["ranking"]
        assert per_seed["without_text"][fusion]["0"] == nb["extra"]["without_text"][name]
        assert per_seed["without_image"][fusion]["0"] == nb["extra"]["without_image"][name]


def test_metrics_follow_the_schema_and_the_summary_matches_per_seed(study):
    nb, m, path = study
    assert m["stage"] == STAGE and m["split"] == nb["split"]
    assert m["extra"]["protocol"]["seeds"] == [0]  # smoke mode: the first seed
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


def test_the_plot_of_every_seed_is_written(study):
    _, _, path = study
    assert (path.parent / "f1_per_seed.png").read_bytes()[:4] == b"\x89PNG"
