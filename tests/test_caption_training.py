"""Caption training: early stopping on val, a checkpoint every epoch and an exact resume."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from hashtag_kit.captioning import (
    CaptionBatches,
    CaptionTokenizer,
    DevBleu,
    build_caption_data,
    split_posts,
    train_caption_model,
)
from hashtag_kit.data.posts import Post
from hashtag_kit.models.caption_decoder import MergeCaptionModel, ShowAttendTellDecoder


class _Features:
    def __init__(self, ids, grid, mask):
        self.ids, self.grid, self.mask = ids, grid, mask


def _data(n=48, seed=0):
    rng = np.random.default_rng(seed)
    words = {0: "a red boat on the sea", 1: "a green tree in the forest", 2: "a white dog on snow"}
    posts, grids = [], []
    for i in range(n):
        g = rng.normal(scale=0.3, size=(4, 8)).astype("float32")
        g[:, i % 3] += 3.0
        grids.append(g)
        cap = words[i % 3]
        posts.append(Post(id=f"p{i}", image=f"/img/{i}.png", captions=[cap, cap + " today"]))
    feats = _Features([p.id for p in posts], np.stack(grids).astype("float16"), np.ones(n, bool))
    parts = split_posts(posts, seed=0, val=0.2, test=0.0)
    tok = CaptionTokenizer.fit([c for p in parts["train"] for c in p.captions], min_count=1)
    return tok, *(build_caption_data(parts[k], feats, tok, max_length=8) for k in ("train", "val"))


def _model(kind, vocab):
    keras.utils.set_random_seed(0)
    if kind == "attention":
        return ShowAttendTellDecoder(vocab, embed_dim=8, units=16, attention_units=8, dropout=0.3)
    return MergeCaptionModel(vocab, embed_dim=8, units=16, dropout=0.3)


class _Interrupt(keras.callbacks.Callback):
    """Stops the process's training as a kill would: at the start of epoch `at`."""

    def __init__(self, at: int) -> None:
        super().__init__()
        self.at = at

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.at:
            raise KeyboardInterrupt


def _interrupted_and_resumed(kind, tok, train, val, ckpt, at, **kw) -> dict:
    """Train with a kill at the start of epoch `at`, then again from the checkpoint."""
    with pytest.raises(KeyboardInterrupt):
        train_caption_model(
            _model(kind, tok.vocab_size), train, val, checkpoint_dir=ckpt,
            callbacks=[_Interrupt(at=at)], **kw,
        )  # fmt: skip
    return train_caption_model(_model(kind, tok.vocab_size), train, val, checkpoint_dir=ckpt, **kw)


def test_batches_of_an_epoch_depend_only_on_seed_and_epoch():
    _, train, _ = _data()
    a = CaptionBatches(train, 8, seed=3, epoch=2)
    b = CaptionBatches(train, 8, seed=3, epoch=0)
    b.on_epoch_end()
    b.on_epoch_end()
    np.testing.assert_array_equal(a.order, b.order)
    assert not np.array_equal(a.order, CaptionBatches(train, 8, seed=3, epoch=1).order)


@pytest.mark.parametrize("kind", ["attention", "merge"])
def test_interrupted_training_resumes_where_an_uninterrupted_one_ends(tmp_path, kind):
    tok, train, val = _data()
    kw = dict(epochs=4, batch_size=16, learning_rate=1e-2, seed=5)
    whole = train_caption_model(_model(kind, tok.vocab_size), train, val, **kw)

    ckpt = tmp_path / "ckpt"
    with pytest.raises(KeyboardInterrupt):
        train_caption_model(
            _model(kind, tok.vocab_size), train, val, checkpoint_dir=ckpt,
            callbacks=[_Interrupt(at=2)], **kw,
        )  # fmt: skip
    (folder,) = list(ckpt.iterdir())
    kept = sorted(p.name for p in folder.glob("epoch_*.npz"))
    # within the first minute no checkpoint is due; the interruption wrote the last epoch
    assert kept == ["epoch_0001.npz"]
    resumed = train_caption_model(
        _model(kind, tok.vocab_size), train, val, checkpoint_dir=ckpt, **kw
    )
    assert resumed["resumed_from_epoch"] == 2
    for name in ("loss", "val_loss"):
        assert resumed["history"][name] == pytest.approx(whole["history"][name], rel=1e-5)
    assert resumed["best_epoch"] == whole["best_epoch"]
    for a, b in zip(resumed["model"].get_weights(), whole["model"].get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert not folder.exists()  # a finished training removes its checkpoint


def test_checkpoint_of_another_configuration_is_not_resumed(tmp_path):
    tok, train, val = _data()
    kw = dict(epochs=2, batch_size=16, seed=0, checkpoint_dir=tmp_path, keep_checkpoint=True)
    train_caption_model(_model("merge", tok.vocab_size), train, val, learning_rate=1e-2, **kw)
    out = train_caption_model(_model("merge", tok.vocab_size), train, val, learning_rate=5e-3, **kw)
    assert out["resumed_from_epoch"] == 0  # other settings: a folder of its own
    assert len(list(tmp_path.iterdir())) == 2


def test_early_stopping_keeps_the_best_val_epoch():
    tok, train, val = _data()
    model = _model("merge", tok.vocab_size)
    out = train_caption_model(
        model, train, val, epochs=40, batch_size=16, learning_rate=3e-2, seed=0, patience=1
    )
    vl = out["history"]["val_loss"]
    assert out["epochs_run"] == len(vl) < 40  # stopped early
    assert out["best_epoch"] == int(np.argmin(vl)) == out["epochs_run"] - 2
    batches = CaptionBatches(val, 16, shuffle=False, bucket=True).as_dataset()  # as in training
    loss = out["model"].evaluate(batches, verbose=0)
    assert loss == pytest.approx(min(vl), rel=1e-4)  # the best epoch's weights are kept


def test_lr_decay_returns_to_the_best_epoch_with_smaller_steps_and_resumes_exactly(tmp_path):
    """With `lr_decay`, every epoch whose val loss is not the best so far multiplies the
    learning rate by it and restarts from the best weights; an interrupted run ends the same."""
    tok, train, val = _data()
    kw = dict(epochs=5, batch_size=16, learning_rate=0.3, seed=0, lr_decay=0.5)  # steps too big
    whole = train_caption_model(_model("merge", tok.vocab_size), train, val, **kw)
    val_loss = whole["history"]["val_loss"]
    worse = sum(v > min(val_loss[: i + 1]) for i, v in enumerate(val_loss))
    assert worse >= 1, val_loss  # the setting gives the decay something to do
    lr = float(keras.ops.convert_to_numpy(whole["model"].optimizer.learning_rate))
    assert lr == pytest.approx(0.3 * 0.5**worse)
    resumed = _interrupted_and_resumed("merge", tok, train, val, tmp_path / "ckpt", 3, **kw)
    assert resumed["history"]["val_loss"] == pytest.approx(val_loss, rel=1e-5)
    for a, b in zip(resumed["model"].get_weights(), whole["model"].get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_dev_bleu_monitor_keeps_the_best_bleu_epoch_and_resumes_exactly(tmp_path):
    """`monitor=DevBleu(...)` (Xu et al.'s early stopping on BLEU): the history gets the dev
    BLEU-4 of every epoch, the model ends with the weights of the best one (decoding it again
    gives that score), and an interrupted training ends the same."""
    tok, train, val = _data()
    monitor = DevBleu(val, tok, beam_width=1, max_length=8)
    kw = dict(epochs=5, batch_size=16, learning_rate=0.3, seed=0, monitor=monitor)  # big steps
    whole = train_caption_model(_model("merge", tok.vocab_size), train, val, **kw)
    bleu = whole["history"]["val_bleu4"]
    assert len(bleu) == 5 and all(0.0 <= b <= 1.0 for b in bleu)
    assert len(set(bleu)) > 1, bleu  # the epochs differ, so the choice is tested
    last_best = max(i for i, b in enumerate(bleu) if b == max(bleu))
    assert whole["best_epoch"] == last_best
    assert monitor(whole["model"]) == pytest.approx(max(bleu))  # the best epoch's weights
    resumed = _interrupted_and_resumed("merge", tok, train, val, tmp_path / "ckpt", 3, **kw)
    assert resumed["resumed_from_epoch"] == 3
    assert resumed["history"]["val_bleu4"] == pytest.approx(bleu, abs=1e-9)
    assert resumed["best_epoch"] == whole["best_epoch"]
    for a, b in zip(resumed["model"].get_weights(), whole["model"].get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


class _Scripted:
    """A monitor giving set scores epoch by epoch and keeping the weights it was shown."""

    name = "scripted"

    def __init__(self, scores):
        self.scores, self.seen = list(scores), []

    def __call__(self, model):
        self.seen.append([np.array(w) for w in model.get_weights()])
        return self.scores[len(self.seen) - 1]

    def get_config(self):
        return {"scores": self.scores}


def test_the_monitor_not_the_val_loss_decides_the_epoch_kept_and_early_stopping():
    tok, train, val = _data()
    monitor = _Scripted([0.1, 0.5, 0.2, 0.3, 0.9, 0.9])  # best at epoch 1, then 2 worse
    out = train_caption_model(
        _model("merge", tok.vocab_size), train, val, epochs=6, batch_size=16,
        learning_rate=1e-2, seed=0, patience=2, monitor=monitor,
    )  # fmt: skip
    assert out["history"]["val_scripted"] == [0.1, 0.5, 0.2, 0.3]  # stopped after 2 worse
    assert out["epochs_run"] == 4 and out["best_epoch"] == 1
    assert np.argmin(out["history"]["val_loss"]) != 1  # the loss alone would keep another
    for a, b in zip(out["model"].get_weights(), monitor.seen[1], strict=True):
        np.testing.assert_array_equal(a, b)
