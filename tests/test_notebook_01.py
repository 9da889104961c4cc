"""Notebook 01 under papermill, smoke mode, on the embedded data (the session's smoke run)."""

import json
import re

import pytest

from hashtag_kit.features.cache import load_features
from hashtag_kit.run import RunDir

pytestmark = pytest.mark.smoke


def test_notebook_01_writes_manifests_features_and_metrics(smoke_run_dir):
    rd = RunDir(smoke_run_dir)
    posts = rd.load_posts()
    assert 1100 <= len(posts) <= 1200  # the embedded default: 1,200 posts, a few bad ones
    splits = rd.load_splits()
    assert sum(len(v) for v in splits["random"].values()) == len(posts)
    vocab = rd.load_vocab()
    assert vocab["min_freq"] == 3 and min(vocab["counts"].values()) >= 3

    metrics = rd.metrics("01_preprocess")
    # the embedded data's deliberately bad records are counted, not lost
    report = metrics["report"]
    assert report["repaired"]["unreadable_image_treated_as_missing"] >= 1
    assert report["repaired"]["empty_text"] >= 1
    # the encoders actually used are recorded in run.json and metrics.json
    assert metrics["encoders"]["image"]["name"] in ("efficientnet_lite0", "inception_v3")
    assert metrics["encoders"]["text"]["name"] in ("use_multilingual_v3", "use_v4")
    assert metrics["features"]["image"]["present"] == metrics["stats"]["with_image"]
    assert metrics["features"]["text"]["present"] == metrics["stats"]["with_text"]
    # and what the feature cache reused or computed: every distinct readable input, once
    for kind in ("image", "text"):
        use = metrics["features"][kind]["cache"]
        distinct = use["reused"] + use["computed"]
        failed = sum(metrics["features"]["report"].get("skipped", {}).values())
        assert 0 < distinct <= metrics["features"][kind]["present"] + failed, (kind, use)

    image = load_features(smoke_run_dir, "image")
    text = load_features(smoke_run_dir, "text")
    assert image.ids == [p.id for p in posts] and text.ids == image.ids
    assert image.grid is not None and image.grid.shape[0] == len(posts)
    # missing modalities reach the models as masks with zero vectors, never fake features
    no_image = [i for i, p in enumerate(posts) if not p.has_image]
    assert no_image and not image.mask[no_image].any()
    assert not image.pooled[no_image].any()
    assert (rd.path / "01_preprocess" / "dataset_overview.png").stat().st_size > 0
    executed = json.loads((rd.path / "executed" / "01_preprocess.ipynb").read_text())
    printed = "".join(
        "".join(o.get("text", "")) for c in executed["cells"] for o in c.get("outputs", [])
    )
    # a few images with the encoder's top ImageNet labels: (name, probability) triples
    assert "ImageNet labels through the head of efficientnet_lite0" in printed
    assert len(re.findall(r": \[\('[^']+', [\d.e-]+\), \('", printed)) >= 3
    assert not any(
        o.get("output_type") == "error" for c in executed["cells"] for o in c.get("outputs", [])
    )


def test_the_user_disjoint_split_gives_cold_start_test_users(smoke_run_dir):
    """Notebooks 02 and 03 read either frozen split (`SPLIT`); on the user-disjoint one no
    test user has a training history, so personalisation meets only cold-start users."""
    from hashtag_kit.training import TrainConfig, load_run_data

    config = TrainConfig().smoke()
    cold = load_run_data(smoke_run_dir, config, split="user_disjoint")
    warm = load_run_data(smoke_run_dir, config, split="random")
    assert len(cold.test) >= 20 and not set(cold.test.users) & set(cold.users)
    assert not cold.test.inputs["history"].any()  # every test row: the empty history
    assert warm.test.inputs["history"].any(axis=1).mean() > 0.5  # most random-split users known
    assert cold.test.ids != warm.test.ids
