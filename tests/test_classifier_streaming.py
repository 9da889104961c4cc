"""The tag classifiers (attention, co-attention, CNN-RNN) on `CachedFeatures`: streamed from the
cache's shards they learn, reach the in-memory path's metrics, resume exactly, and read only
the features their model uses (the CNN-RNN never a grid, the text-only model no image)."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from test_training import Crash

from hashtag_kit.baselines.ranking import PopularityRecommender
from hashtag_kit.data.posts import Post
from hashtag_kit.evaluation.ranking import ranking_metrics, top_k_from_scores
from hashtag_kit.features import cache, stream
from hashtag_kit.features.cache import open_features
from hashtag_kit.models.attention_classifier import (
    AttentionHashtagClassifier,
    WordVocabulary,
    predict_attention,
)
from hashtag_kit.models.cnn_rnn import recommend_cnn_rnn
from hashtag_kit.training.classifiers import train_attention_classifier, train_cnn_rnn
from tools.bench import scale

N = 600  # three shards (two full, one partial); every 50th post has no image
TAGS = ["common", "a", "b", "c"]
MAX_LEN = 4  # caption tokens (the captions have one or two words)
SMALL = {"units": 8, "embedding_dim": 8, "max_len": MAX_LEN, "batch_size": 32, "seed": 0}
SMALL["learning_rate"] = 0.01


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """(image CachedFeatures, train, val, test, words): the image's grid decides "a" / "b",
    the caption decides "c"."""
    run = tmp_path_factory.mktemp("classifier_stream") / "run"
    scale.write_synthetic(run, N, scale.TINY)
    image = open_features(run, "image")
    loaded = image.load(grid=True)
    signal = loaded.grid.astype("float32").mean(1)  # (N, C)
    rng = np.random.default_rng(0)
    posts = []
    for i, pid in enumerate(image.ids):
        tags = ["common"] + (["a" if signal[i, 0] > 0 else "b"] if loaded.mask[i] else [])
        sunny = rng.random() < 0.5
        posts.append(Post(pid, tags + ["c"] * sunny, text="sun beach" if sunny else "rain"))
    words = WordVocabulary.fit([p.text for p in posts[:400]], min_count=1)
    return image, posts[:400], posts[400:500], posts[500:], words


@pytest.fixture()
def reads(monkeypatch):
    """`grid` flags of every `cache.read_shard` call."""
    got, real = [], cache.read_shard
    monkeypatch.setattr(
        cache, "read_shard", lambda path, grid: got.append(grid) or real(path, grid)
    )
    return got


def _f1(ranked, posts, k=2):
    return ranking_metrics(ranked, [set(p.hashtags) for p in posts], [k])["f1"][str(k)]


@pytest.mark.parametrize(("modality", "fusion"), [("image", "concat"), ("both", "co_attention")])
def test_streamed_attention_classifier_learns_like_the_in_memory_one(
    data, modality, fusion, caplog
):
    image, train, val, test, words = data
    f1, info = {}, {}
    for mode in ("stream", "memory"):
        with caplog.at_level(logging.INFO, logger="hashtag_kit.encoders"):
            model, info[mode] = train_attention_classifier(
                train, val, TAGS, image, words, modality=modality, fusion=fusion, epochs=6,
                input_mode=mode, **SMALL,
            )  # fmt: skip
        probs, att = predict_attention(model, test, image, words, MAX_LEN)
        f1[mode] = _f1(top_k_from_scores(probs, TAGS, 2), test)
        assert att["image"].shape == (len(test), 4)
    assert info["stream"]["input_mode"] == "stream" and info["memory"]["input_mode"] == "memory"
    assert "streamed from the cache's shards" in caplog.text and "held in memory" in caplog.text
    loss = info["stream"]["history"]["loss"]
    assert loss[-1] < 0.9 * loss[0]
    popularity = _f1(PopularityRecommender().fit(train, TAGS).recommend(test, 2), test)
    assert f1["stream"] > popularity + 0.05, (f1, popularity)
    # the same data in another batch order: F1@2 within 0.1, final val loss within 15 %
    assert f1["stream"] == pytest.approx(f1["memory"], abs=0.1)
    val_loss = [info[m]["history"]["val_loss"][-1] for m in ("stream", "memory")]
    assert val_loss[0] == pytest.approx(val_loss[1], rel=0.15)


def test_predictions_streamed_from_the_cache_equal_the_loaded_features(data, reads):
    image, train, val, test, words = data
    model = AttentionHashtagClassifier(len(TAGS), words.size, units=8, embedding_dim=8)
    streamed = predict_attention(model, test, image, words, MAX_LEN, batch_size=32)
    loaded = predict_attention(model, test, image.load(grid=True), words, MAX_LEN, batch_size=32)
    np.testing.assert_array_equal(streamed[0], loaded[0])
    for k in ("image", "text"):
        np.testing.assert_array_equal(streamed[1][k], loaded[1][k])
    reads.clear()
    text_only, _ = train_attention_classifier(
        train[:64], [], TAGS, image, words, modality="text", epochs=1, input_mode="stream",
        **SMALL,
    )  # fmt: skip
    probs, _ = predict_attention(text_only, test, image, words, MAX_LEN)
    assert probs.shape == (len(test), len(TAGS))
    assert reads == []  # the text-only model reads no image features at all


def test_auto_streams_when_the_grids_exceed_the_budget(data, monkeypatch):
    image, train, val, test, words = data
    monkeypatch.setattr(stream, "MEMORY_BUDGET", 1000)
    train, val, kw = train[:64], val[:16], {**SMALL, "epochs": 1, "modality": "image"}
    assert train_attention_classifier(train, val, TAGS, image, **kw)[1]["input_mode"] == "stream"
    monkeypatch.undo()  # 80 grids of 128 bytes fit the default budget
    assert train_attention_classifier(train, val, TAGS, image, **kw)[1]["input_mode"] == "memory"


def test_streamed_cnn_rnn_learns_like_the_in_memory_one_and_never_reads_grids(data, reads):
    image, train, val, test, _ = data
    kw = {"joint_dim": 8, "units": 8, "epochs": 6, "batch_size": 32, "learning_rate": 0.01}
    f1, info = {}, {}
    for mode in ("stream", "memory"):
        model, info[mode] = train_cnn_rnn(train, val, TAGS, image, input_mode=mode, **kw)
        f1[mode] = _f1(recommend_cnn_rnn(model, image, TAGS, 2, posts=test), test)
    assert reads and not any(reads)  # shards read (pooled vectors), never a grid
    loss = info["stream"]["history"]["loss"]
    assert loss[-1] < 0.9 * loss[0] and len(info["stream"]["history"]["val_loss"]) == 6
    assert f1["stream"] == pytest.approx(f1["memory"], abs=0.1), f1
    val_loss = [info[m]["history"]["val_loss"][-1] for m in ("stream", "memory")]
    assert val_loss[0] == pytest.approx(val_loss[1], rel=0.15)
    # the streamed recommendation equals the one from loaded vectors
    pooled = image.load([p.id for p in test], grid=False).pooled
    assert recommend_cnn_rnn(model, image, TAGS, 3, posts=test) == recommend_cnn_rnn(
        model, pooled, TAGS, 3
    )


@pytest.mark.parametrize("family", ["co_attention", "cnn_rnn"])
def test_interrupted_streamed_training_resumes_to_the_same_end(data, tmp_path, family):
    image, train, val, _, words = data
    train, val = train[:64], val[:16]

    def run(**kw):
        if family == "cnn_rnn":
            return train_cnn_rnn(
                train, val, TAGS, image, joint_dim=4, units=4, epochs=3, batch_size=16,
                input_mode="stream", seed=2, **kw,
            )  # fmt: skip
        return train_attention_classifier(
            train, val, TAGS, image, words, fusion=family, units=4, embedding_dim=4, epochs=3,
            max_len=MAX_LEN, batch_size=16, input_mode="stream", seed=2, **kw,
        )  # fmt: skip

    whole, whole_info = run()
    with pytest.raises(KeyboardInterrupt):
        run(checkpoint_dir=tmp_path, callbacks=[Crash(2)])
    (folder,) = list(tmp_path.iterdir())
    resumed, info = run(checkpoint_dir=tmp_path)
    assert info["resumed_from_epoch"] == 2 and not folder.exists()
    for name in ("loss", "val_loss"):
        assert info["history"][name] == pytest.approx(whole_info["history"][name], rel=1e-5)
    for a, b in zip(resumed.get_weights(), whole.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
