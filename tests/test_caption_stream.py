"""Captioners trained on grids streamed from the feature cache's shards (issue 17): the same
pairs as in memory, the size rule logged, learning close to the in-memory path, exact resume."""

from __future__ import annotations

import logging

import keras
import numpy as np
import pytest

from hashtag_kit.captioning import (
    CaptionBatches,
    CaptionTokenizer,
    build_caption_data,
    split_posts,
    streamed_caption_batches,
    train_caption_model,
)
from hashtag_kit.data.posts import Post
from hashtag_kit.features.cache import open_features
from hashtag_kit.models.caption_decoder import MergeCaptionModel, ShowAttendTellDecoder
from tools.bench import scale

N = 600  # three shards of grids (2x2 regions of 16 channels); every 50th post has no image
WORDS = ("a red boat on the sea", "a green tree in the forest", "a white dog on snow")


@pytest.fixture(scope="module")
def cached(tmp_path_factory):
    """(tokenizer, features, train posts, val posts): captions say which of 3 channels is
    strongest in the image's grid."""
    run = tmp_path_factory.mktemp("caption_stream") / "run"
    scale.write_synthetic(run, N, scale.TINY)
    img = open_features(run, "image")
    kind = img.load(grid=True).grid.astype("float32").mean(axis=1)[:, :3].argmax(axis=1)
    posts = [
        Post(id=i, image=f"/img/{i}.png", captions=[WORDS[k], WORDS[k] + " today"])
        for i, k in zip(img.ids, kind, strict=True)
    ]
    parts = split_posts(posts, seed=0, val=0.2, test=0.0)
    tok = CaptionTokenizer.fit([c for p in parts["train"] for c in p.captions], min_count=1)
    return tok, img, parts["train"], parts["val"]


def _model(vocab):
    keras.utils.set_random_seed(0)
    return ShowAttendTellDecoder(vocab, embed_dim=8, units=16, attention_units=8, dropout=0.3)


def _pairs(batches):
    """Sorted (grid bytes, padded targets) of an epoch's batches: its pairs, as a multiset."""
    out = []
    for (grid, _), y in batches:
        grid, y = np.asarray(grid), np.asarray(y)
        y = np.pad(y, ((0, 0), (0, 9 - y.shape[1])))
        out += [g.tobytes() + t.tobytes() for g, t in zip(grid, y, strict=True)]
    return sorted(out)


def test_streamed_data_gives_the_in_memory_pairs_and_the_choice_is_logged(cached, caplog):
    tok, img, train_posts, _ = cached
    with caplog.at_level(logging.INFO, logger="hashtag_kit.encoders"):
        memory = build_caption_data(train_posts, img, tok, max_length=8)  # small: auto -> memory
        streamed = build_caption_data(train_posts, img, tok, max_length=8, budget=1000)
    assert "held in memory" in caplog.text and "streamed from the cache's shards" in caplog.text
    before = build_caption_data(train_posts, img.load(grid=True), tok, max_length=8)  # as today
    assert memory.ids == before.ids == streamed.ids and len(memory.ids) < len(train_posts)
    np.testing.assert_array_equal(memory.grid, before.grid)
    np.testing.assert_array_equal(streamed.pair_tokens, memory.pair_tokens)
    assert streamed.streamed and streamed.grid is None and not memory.streamed
    assert streamed.grid_shape == memory.grid_shape == (4, 16)
    np.testing.assert_array_equal(streamed.image_grids(), memory.grid)  # for decoding

    in_memory = CaptionBatches(memory, 32, seed=1, epoch=0)
    epoch0 = list(streamed_caption_batches(streamed, 32, seed=1, epoch=0).as_numpy_iterator())
    assert len(epoch0) == len(in_memory)  # ceil(pairs / batch)
    assert _pairs(epoch0) == _pairs(in_memory[i] for i in range(len(in_memory)))  # once each
    for (_, x), y in epoch0:  # each batch cut to its longest reference
        assert x.shape == y.shape and (y[:, -1] != 0).any()
    again = list(streamed_caption_batches(streamed, 32, seed=1, epoch=0).as_numpy_iterator())
    epoch1 = list(streamed_caption_batches(streamed, 32, seed=1, epoch=1).as_numpy_iterator())
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(epoch0, again, strict=True))
    assert not all(np.array_equal(a[1], b[1]) for a, b in zip(epoch0, epoch1, strict=True))


def test_pooled_data_is_each_grid_mean_and_gives_the_merge_model_the_same_logits(cached):
    """`CaptionData.pooled` (notebook 04 trains the merge model on it): every image's grid
    averaged over its regions, in memory, from streamed and in-memory data alike, with the
    same pairs; the merge model (which reads only that mean) computes the same logits from it
    as from the whole grid, so a model trained on it can be given grids (as saved models are)."""
    tok, img, train_posts, _ = cached
    memory = build_caption_data(train_posts, img, tok, max_length=8)
    streamed = build_caption_data(train_posts, img, tok, max_length=8, budget=1000)
    means = memory.grid.astype("float32").mean(axis=1, keepdims=True)
    for pooled in (memory.pooled(chunk=64), memory.pooled(), streamed.pooled(chunk=64)):
        assert not pooled.streamed and pooled.grid.shape == (len(memory), 1, 16)
        assert pooled.grid_shape == (1, 16) and pooled.ids == memory.ids
        np.testing.assert_allclose(pooled.grid, means, rtol=1e-6)
        np.testing.assert_array_equal(pooled.pair_tokens, memory.pair_tokens)
        np.testing.assert_array_equal(pooled.pair_image, memory.pair_image)
    assert streamed.streamed and memory.grid.shape[1] == 4  # the originals are left as they were
    keras.utils.set_random_seed(0)
    merge = MergeCaptionModel(tok.vocab_size, embed_dim=8, units=16)
    (grid, tokens), _ = CaptionBatches(memory, 32, shuffle=False)[0]
    (mean, same_tokens), _ = CaptionBatches(memory.pooled(), 32, shuffle=False)[0]
    np.testing.assert_array_equal(tokens, same_tokens)
    np.testing.assert_allclose(merge([mean, tokens]), merge([grid, tokens]), atol=1e-5)


class _Interrupt(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 2:
            raise KeyboardInterrupt


def test_streamed_training_learns_close_to_memory_and_resumes_to_the_same_end(cached, tmp_path):
    """Same model, seed and epochs in memory and streamed: the batches differ (streamed: shard
    blocks mixed a few shards at a time, length-sorted windows of 8 batches), so the losses agree
    within 15% (in memory, another seed moves them by about as much); an interrupted streamed
    training resumes and ends exactly where an uninterrupted one does."""
    tok, img, train_posts, val_posts = cached
    kw = dict(epochs=4, batch_size=32, learning_rate=1e-2, seed=0)
    parts = (train_posts, val_posts)
    data = {
        mode: [build_caption_data(p, img, tok, max_length=8, input_mode=mode) for p in parts]
        for mode in ("memory", "stream")
    }
    memory = train_caption_model(_model(tok.vocab_size), *data["memory"], **kw)["history"]
    whole = train_caption_model(_model(tok.vocab_size), *data["stream"], **kw)
    loss, val_loss = whole["history"]["loss"], whole["history"]["val_loss"]
    assert loss[-1] < 0.5 * loss[0]  # learns
    assert loss[-1] == pytest.approx(memory["loss"][-1], rel=0.15)
    assert min(val_loss) == pytest.approx(min(memory["val_loss"]), rel=0.15)

    ckpt = tmp_path / "ckpt"
    with pytest.raises(KeyboardInterrupt):
        train_caption_model(
            _model(tok.vocab_size), *data["stream"], checkpoint_dir=ckpt,
            callbacks=[_Interrupt()], **kw,
        )  # fmt: skip
    resumed = train_caption_model(
        _model(tok.vocab_size), *data["stream"], checkpoint_dir=ckpt, **kw
    )
    assert resumed["resumed_from_epoch"] == 2
    for name in ("loss", "val_loss"):
        assert resumed["history"][name] == pytest.approx(whole["history"][name], rel=1e-5)
    for a, b in zip(resumed["model"].get_weights(), whole["model"].get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
