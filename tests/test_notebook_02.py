"""Notebook 02 in smoke mode: the done-when orderings, read from its metrics.json."""

import json

import pytest

from hashtag_kit.models.encoder_decoder import load_stage
from hashtag_kit.run import ENCODER_DECODER

MAIN = "encoder-decoder weighted+user"
SUM = "encoder-decoder sum+user"
NO_USER = "encoder-decoder weighted (no user)"


@pytest.fixture(scope="module")
def stage(smoke_notebook):
    return smoke_notebook(ENCODER_DECODER)


@pytest.fixture(scope="module")
def metrics(stage):
    return json.loads((stage / "metrics.json").read_text())


def f1_at_5(ranking):
    return ranking["f1"]["5"]


@pytest.mark.smoke
def test_metrics_schema(metrics):
    assert metrics["stage"] == ENCODER_DECODER and metrics["split"] == "random"
    assert metrics["run_mode"] == "smoke"
    for name, entry in metrics["models"].items():
        assert {"family", "description", "paper", "ranking", "trainable_params"} <= set(entry)
        assert {"ms_per_step", "history", "variant"} <= set(entry)
        assert set(entry["ranking"]["f1"]) == {str(k) for k in range(1, 11)}, name
    main = metrics["models"][MAIN]
    assert main["trainable_params"] > 0 and main["ms_per_step"] > 0
    assert len(main["history"]["loss"]) == len(main["history"]["val_loss"]) > 0
    assert main["variant"] == {
        "fusion": "weighted",
        "personalisation": True,
        "modality": "both",
        "trained": True,
    }
    assert metrics["models"]["popularity"]["family"] == "baseline"


@pytest.mark.smoke
def test_model_beats_popularity_by_a_wide_margin(metrics):
    model = f1_at_5(metrics["models"][MAIN]["ranking"])
    popularity = f1_at_5(metrics["models"]["popularity"]["ranking"])
    assert model >= 1.5 * popularity and model - popularity >= 0.15, (model, popularity)


@pytest.mark.smoke
@pytest.mark.xfail(
    strict=True,
    reason=(
        "not achieved: on the embedded smoke data (40 test posts) weighted vs sum fusion with "
        "the text removed flips with the seed (F1@5 seed 0: 0.485 vs 0.526; seed 1: 0.535 vs "
        "0.473; seed 2: 0.528 vs 0.536): masked text-less posts give both fusions the same "
        "information, so no robust gap exists to assert. Also measured, and also flipping with "
        "the seed: a gate renormalised by the masks, a sum that keeps the text projection's "
        "bias, and emoji-only captions in place of a missing text. Where the gate did win "
        "in all of seeds 0-2 (a simulation, not the embedded data): 30% of captions replaced by "
        "varied filler phrases such as 'what a day', F1@5 0.40 vs 0.38 on the 6 such test "
        "posts and 0.54 vs 0.52 on all test posts"
    ),
)
def test_weighted_fusion_beats_sum_fusion_without_text(metrics):
    without_text = metrics["extra"]["without_text"]
    assert f1_at_5(without_text[MAIN]) > f1_at_5(without_text[SUM])


@pytest.mark.smoke
def test_personalisation_helps_users_seen_in_training(metrics):
    seen = metrics["extra"]["seen_users"]
    assert metrics["extra"]["n_test_posts_seen_users"] > 0
    assert f1_at_5(seen[MAIN]) > f1_at_5(seen[NO_USER])


@pytest.mark.smoke
def test_stage_files_load_and_decode(stage):
    model, tokens, users, config = load_stage(stage)
    assert config["format_version"] == 1
    assert users and max(len(ids) for ids in users.values()) <= config["history_len"]
    assert config["image_encoder"]["dim"] == model.image_dim
    assert tokens[:4] == ["<pad>", "<start>", "<end>", "<unk>"] and len(tokens) == model.vocab_size
