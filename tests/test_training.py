"""Training: histories, arrays, learning, resume after interruption, mirrored strategy."""

import os
import subprocess
import sys
import textwrap
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

import keras
import numpy as np
import pytest

from hashtag_kit.baselines.ranking import PopularityRecommender
from hashtag_kit.data.posts import Post
from hashtag_kit.evaluation.ranking import ranking_metrics
from hashtag_kit.training import (
    TrainConfig,
    epoch_arrays,
    evaluate,
    make_arrays,
    make_tokens,
    post_histories,
    train,
    user_histories,
)

REPO = Path(__file__).resolve().parent.parent


@dataclass
class FakeFeatures:
    """Stands in for `hashtag_kit.features.cache.FeatureSet` (ids, pooled, mask, take)."""

    ids: list
    pooled: np.ndarray
    mask: np.ndarray
    encoder: dict

    def take(self, ids):
        pos = {i: r for r, i in enumerate(self.ids)}
        rows = [pos[i] for i in ids]
        return FakeFeatures(list(ids), self.pooled[rows], self.mask[rows], self.encoder)


def synthetic(n=300, seed=0, p_no_text=0.2):
    """Posts whose tags come from an image cluster, a text cluster and the user's habit."""
    rng = np.random.default_rng(seed)
    ci, ct = rng.normal(size=(5, 12)) * 2, rng.normal(size=(5, 10)) * 2
    posts, img, txt, mt = [], [], [], []
    for i in range(n):
        a, b, u = rng.integers(5), rng.integers(5), rng.integers(6)
        has_text = rng.random() > p_no_text
        posts.append(Post(f"p{i}", [f"img{a}", f"txt{b}", f"habit{u}"], user=f"u{u}"))
        img.append(ci[a] + rng.normal(size=12) * 0.5)
        txt.append(ct[b] + rng.normal(size=10) * 0.5 if has_text else np.zeros(10))
        mt.append(has_text)
    ids = [p.id for p in posts]
    fi = FakeFeatures(ids, np.array(img, "float32"), np.ones(n, bool), {"name": "fake_i"})
    ft = FakeFeatures(ids, np.array(txt, "float32"), np.array(mt), {"name": "fake_t"})
    return posts, fi, ft


def arrays(posts, train_posts, fi, ft, tokens, h=4):
    return make_arrays(posts, fi, ft, tokens, post_histories(posts, train_posts, tokens, h), 4)


def vocab_of(posts):
    return make_tokens([t for t, _ in Counter(t for p in posts for t in p.hashtags).most_common()])


def test_histories_most_used_first_leave_one_out_and_unknown_users():
    train_posts = [
        Post("a", ["sea", "sun"], user="u"),
        Post("b", ["sea"], user="u"),
        Post("c", ["cat"], user="v"),
    ]
    tokens = make_tokens(["sea", "sun", "cat"])
    sea, sun, cat = 4, 5, 6
    assert user_histories(train_posts, tokens, 5) == {"u": [sea, sun], "v": [cat]}
    test_posts = [Post("t", ["x"], user="u"), Post("s", ["x"], user="nobody"), Post("n", [])]
    hist = post_histories(train_posts + test_posts, train_posts, tokens, 3)
    np.testing.assert_array_equal(
        hist,
        [
            [sea, 0, 0],  # post a: its own sea/sun left out, post b's sea remains
            [sea, sun, 0],  # post b: post a's tags
            [0, 0, 0],  # post c: the user's only post -> no history
            [sea, sun, 0],  # test post of u: all of u's training tags
            [0, 0, 0],  # unknown user
            [0, 0, 0],  # no user
        ],
    )


def test_make_arrays_and_epoch_arrays():
    posts, fi, ft = synthetic(n=20)
    posts[0] = Post("p0", ["img1", "unseen_tag", "img1"], user="u1")
    tokens = vocab_of(posts[1:])
    data = arrays(posts, posts, fi, ft, tokens)
    assert data.tags[0].tolist() == [tokens.index("img1"), 0, 0, 0]  # OOV dropped, no repeat
    assert data.truth[0] == {"img1", "unseen_tag"}  # ...but still counted as a miss
    assert data.inputs["text_mask"].dtype == np.float32
    np.testing.assert_array_equal(data.inputs["text_mask"], ft.mask.astype("float32"))
    x1, y1 = epoch_arrays(data, seed=0, epoch=1)
    x1b, y1b = epoch_arrays(data, seed=0, epoch=1)
    x2, y2 = epoch_arrays(data, seed=0, epoch=2)
    np.testing.assert_array_equal(y1, y1b)
    assert not np.array_equal(y1, y2)
    np.testing.assert_array_equal(x1["decoder_in"][:, 1:], y1)  # teacher forcing
    assert (x1["decoder_in"][:, 0] == 1).all()
    # same posts, same tag sets: only the orders change
    order = {p: r for r, p in enumerate(data.ids)}
    for row in range(len(data)):
        src = order[data.ids[np.flatnonzero((data.inputs["image"] == x1["image"][row]).all(1))[0]]]
        assert sorted(y1[row]) == sorted(data.tags[src])
    sub = data.subset(data.inputs["text_mask"] == 0)
    assert len(sub) == int((ft.mask == 0).sum()) and (sub.inputs["text_mask"] == 0).all()
    assert (data.without("text").inputs["text"] == 0).all()


def test_training_learns_and_beats_popularity():
    posts, fi, ft = synthetic(n=360)
    train_posts, test_posts = posts[:300], posts[300:]
    tokens = vocab_of(train_posts)
    tr = arrays(train_posts, train_posts, fi, ft, tokens)
    te = arrays(test_posts, train_posts, fi, ft, tokens)
    cfg = TrainConfig(units=32, embed_dim=16, epochs=10, batch_size=32, seed=0)
    result = train(cfg, tr, te, len(tokens))
    val = result.history["val_loss"]
    assert result.best_epoch == int(np.argmin(val))  # ends with the best validation epoch
    loss = result.history["loss"]
    assert len(loss) == 10 and loss[-1] < 0.8 * loss[0]
    assert len(result.history["val_loss"]) == 10
    assert result.trainable_params > 0 and result.ms_per_step > 0
    model_f1 = evaluate(result.model, te, tokens)["f1"]["3"]
    pop = PopularityRecommender().fit(train_posts).recommend(test_posts, 10)
    pop_f1 = ranking_metrics(pop, te.truth)["f1"]["3"]
    assert model_f1 > pop_f1 + 0.2, (model_f1, pop_f1)


class Crash(keras.callbacks.Callback):
    def __init__(self, at_epoch):
        super().__init__()
        self.at_epoch = at_epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.at_epoch:
            raise KeyboardInterrupt(f"simulated interruption at epoch {epoch}")


def small_training_data():
    """(train, val, tokens): 96 + 16 synthetic posts, for the checkpoint tests."""
    posts, fi, ft = synthetic(n=112, seed=1)
    tokens = vocab_of(posts)
    tr = arrays(posts[:96], posts[:96], fi, ft, tokens)
    va = arrays(posts[96:], posts[:96], fi, ft, tokens)
    return tr, va, tokens


def test_interrupted_training_resumes_to_the_same_end(tmp_path):
    tr, va, tokens = small_training_data()
    cfg = TrainConfig(units=8, embed_dim=4, epochs=3, batch_size=16, seed=3)
    straight = train(cfg, tr, va, len(tokens))
    ckpt = tmp_path / "ckpt"
    with pytest.raises(KeyboardInterrupt):
        train(cfg, tr, va, len(tokens), checkpoint_dir=ckpt, callbacks=[Crash(2)])
    assert (ckpt / "epoch_0001.json").exists() and (ckpt / "epoch_0001.npz").exists()
    # epoch 0 was not due (a minute between checkpoints); the interruption wrote epoch 1
    assert not (ckpt / "epoch_0000.json").exists()
    resumed = train(cfg, tr, va, len(tokens), checkpoint_dir=ckpt)
    assert resumed.resumed_from_epoch == 2
    assert resumed.best_epoch == straight.best_epoch == int(np.argmin(straight.history["val_loss"]))
    np.testing.assert_allclose(resumed.history["loss"], straight.history["loss"], rtol=1e-5)
    np.testing.assert_allclose(resumed.history["val_loss"], straight.history["val_loss"], rtol=1e-5)
    for a, b in zip(resumed.model.get_weights(), straight.model.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    # a checkpoint of another configuration is refused, not silently mixed in
    with pytest.raises(ValueError, match="another configuration"):
        train(TrainConfig(units=16, epochs=3), tr, None, len(tokens), checkpoint_dir=ckpt)


SIGTERMED = """
import os, signal, sys
sys.path.insert(0, {tests!r})
import keras
from test_training import small_training_data
from hashtag_kit.training import TrainConfig, train

class Term(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 2:
            os.kill(os.getpid(), signal.SIGTERM)

tr, va, tokens = small_training_data()
cfg = TrainConfig(units=8, embed_dim=4, epochs=3, batch_size=16, seed=3)
if {own_handler!r}:
    signal.signal(signal.SIGTERM, lambda signum, frame: print("OWN HANDLER", flush=True))
train(cfg, tr, va, len(tokens), checkpoint_dir={ckpt!r}, callbacks=[Term()])
print("ENDED", signal.getsignal(signal.SIGTERM) is signal.SIG_DFL)
"""


@pytest.mark.parametrize("own_handler", [False, True])
def test_sigterm_writes_the_last_epoch_and_exits(tmp_path, own_handler):
    """A cluster ending a job sends SIGTERM: training stops with status 143 after writing the
    last finished epoch (the interval had skipped it), and a re-run resumes from there. A
    SIGTERM handler the program installed itself is left in charge."""
    ckpt = tmp_path / "ckpt"
    code = SIGTERMED.format(tests=str(REPO / "tests"), ckpt=str(ckpt), own_handler=own_handler)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO
    )
    if own_handler:  # its handler ran, training went on to the end
        assert out.returncode == 0, out.stderr[-3000:]
        assert out.stdout.split() == ["OWN", "HANDLER", "ENDED", "False"]
        assert (ckpt / "epoch_0002.json").exists()
        return
    assert out.returncode == 143, (out.returncode, out.stderr[-3000:])
    assert "ENDED" not in out.stdout and "Traceback" not in out.stderr
    assert (
        "training stopped (SystemExit) after 2 epochs, all written; a re-run resumes" in out.stderr
    )
    assert (ckpt / "epoch_0001.json").exists() and not (ckpt / "epoch_0000.json").exists()
    tr, va, tokens = small_training_data()
    cfg = TrainConfig(units=8, embed_dim=4, epochs=3, batch_size=16, seed=3)
    resumed = train(cfg, tr, va, len(tokens), checkpoint_dir=ckpt)
    assert resumed.resumed_from_epoch == 2 and len(resumed.history["loss"]) == 3


def test_checkpoint_folder_is_keyed_by_configuration_and_data(tmp_path):
    from hashtag_kit.training import RunData, checkpoint_folder

    posts, fi, ft = synthetic(n=40, seed=1)
    tokens = vocab_of(posts)

    def data(train_posts, encoders=None):
        part = arrays(train_posts, train_posts, fi, ft, tokens)
        val = arrays(posts[30:], train_posts, fi, ft, tokens)
        return RunData(tokens, {}, part, val, val, list(train_posts), encoders or {"image": "a"})

    cfg = TrainConfig(units=8, epochs=3)
    first = checkpoint_folder(tmp_path, cfg, data(posts[:30]))
    assert first.parent == tmp_path
    assert checkpoint_folder(tmp_path, cfg, data(posts[:30])) == first  # a re-run finds it
    assert checkpoint_folder(tmp_path, replace(cfg, epochs=9), data(posts[:30])) == first
    others = {
        checkpoint_folder(tmp_path, replace(cfg, fusion="sum"), data(posts[:30])),
        checkpoint_folder(tmp_path, replace(cfg, personalisation=False), data(posts[:30])),
        checkpoint_folder(tmp_path, cfg, data(posts[:29])),  # other training posts
        checkpoint_folder(tmp_path, cfg, data(posts[:30], {"image": "b"})),  # other features
    }
    assert first not in others and len(others) == 4


MIRRORED = """
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import sys
sys.path.insert(0, {tests!r})
import numpy as np
from test_training import arrays, synthetic, vocab_of
from hashtag_kit.training import TrainConfig, evaluate, get_strategy, train

strategy = get_strategy("mirrored")
posts, fi, ft = synthetic(n=128, seed=2)
tokens = vocab_of(posts)
tr = arrays(posts, posts, fi, ft, tokens)
cfg = TrainConfig(units=16, embed_dim=8, epochs=4, batch_size=32, strategy="mirrored")
result = train(cfg, tr, None, len(tokens))
m = evaluate(result.model, tr, tokens)
print("REPLICAS", strategy.num_replicas_in_sync)
# the model train() built lives under the strategy: one variable copy per logical device
var = result.model.trainable_variables[0].value
print("VARIABLE", type(var).__name__, len(var.values))
print("LOSS", *result.history["loss"])
print("HIT1", m["hit_rate"]["1"])
"""


def test_mirrored_strategy_on_two_logical_cpus():
    code = textwrap.dedent(MIRRORED.format(tests=str(REPO / "tests")))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO
    )
    assert out.returncode == 0, out.stderr[-3000:]
    lines = dict(line.split(" ", 1) for line in out.stdout.splitlines() if " " in line)
    assert lines["REPLICAS"] == "2"
    assert lines["VARIABLE"] == "MirroredVariable 2"  # plain ResourceVariable without it
    loss = [float(v) for v in lines["LOSS"].split()]
    assert len(loss) == 4 and all(np.isfinite(loss)) and loss[-1] < loss[0]
    assert float(lines["HIT1"]) > 0


@pytest.mark.skipif(not hasattr(os, "getpriority"), reason="thread niceness is Linux's")
def test_checkpoints_are_written_by_a_low_priority_thread():
    """The writer yields the cores to training's threads (`run.low_priority_thread`)."""
    import threading

    from hashtag_kit.run import BACKGROUND_NICE
    from hashtag_kit.training.checkpoints import CheckpointWriter

    seen = []
    writer = CheckpointWriter()
    writer.submit(lambda: seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id())))
    writer.close()
    assert seen == [BACKGROUND_NICE]
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) != BACKGROUND_NICE


def test_checkpoints_are_written_at_most_once_per_interval_and_at_the_end(tmp_path, monkeypatch):
    """`checkpoint_every` seconds between written checkpoints (default a minute; 0: every
    epoch; `$HASHTAG_KIT_CHECKPOINT_EVERY`); the last epoch is always written."""
    from hashtag_kit.training import fit as fit_module

    tr, va, tokens = small_training_data()
    cfg = TrainConfig(units=8, embed_dim=4, epochs=3, batch_size=16, seed=3)
    written, save = [], fit_module.save_epoch_checkpoint

    def counted(folder, snapshot, *args, **kwargs):
        written.append(snapshot[1]["epoch"])
        return save(folder, snapshot, *args, **kwargs)

    monkeypatch.setattr(fit_module, "save_epoch_checkpoint", counted)
    monkeypatch.delenv(fit_module.CHECKPOINT_EVERY_ENV, raising=False)
    train(cfg, tr, va, len(tokens), checkpoint_dir=tmp_path / "default")
    assert written == [2]
    written.clear()
    monkeypatch.setenv(fit_module.CHECKPOINT_EVERY_ENV, "0")
    train(cfg, tr, va, len(tokens), checkpoint_dir=tmp_path / "every")
    assert written == [0, 1, 2]
    for bad in ("-1", "soon", "inf"):
        monkeypatch.setenv(fit_module.CHECKPOINT_EVERY_ENV, bad)
        with pytest.raises(ValueError, match="HASHTAG_KIT_CHECKPOINT_EVERY must be a number") as e:
            train(cfg, tr, va, len(tokens), checkpoint_dir=tmp_path / "bad")
        assert "\n" not in str(e.value)


def test_epoch_snapshot_keeps_the_epochs_values_while_training_goes_on():
    """The snapshot is a copy: written an epoch later, it still holds the epoch's values; the
    next snapshot refills the same arrays (fit reuses them from epoch to epoch)."""
    from hashtag_kit.training.checkpoints import epoch_snapshot

    tr, va, tokens = small_training_data()
    cfg = TrainConfig(units=8, embed_dim=4, epochs=1, batch_size=16, seed=3)
    model = train(cfg, tr, va, len(tokens)).model
    before = [keras.ops.convert_to_numpy(v) for v in [*model.variables, *model.optimizer.variables]]
    variables, state, _ = epoch_snapshot(model, {}, 0, {"loss": [1.0]}, (None, None))
    x, y = epoch_arrays(tr, 3, 1)
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    after = [keras.ops.convert_to_numpy(v) for v in model.variables]
    assert sum(not np.array_equal(a, b) for a, b in zip(after, before, strict=False)) > 0
    for snap, value in zip(variables, before, strict=True):
        np.testing.assert_array_equal(np.asarray(snap), value)
    assert state["epoch"] == 0 and state["history"] == {"loss": [1.0]}
    again, _, _ = epoch_snapshot(model, {}, 1, {"loss": [1.0]}, (None, None), into=variables)
    assert all(a is b for a, b in zip(again, variables, strict=True))
    now = [keras.ops.convert_to_numpy(v) for v in [*model.variables, *model.optimizer.variables]]
    for snap, value in zip(again, now, strict=True):
        np.testing.assert_array_equal(snap, value)


def test_an_interruption_is_not_hidden_by_a_failing_last_checkpoint(tmp_path, monkeypatch, caplog):
    """When the checkpoint written on an interruption fails (a full disk, say), the caller
    still gets the interruption, and the log says the checkpoint was not written."""
    from hashtag_kit.training import fit as fit_module

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    tr, va, tokens = small_training_data()
    cfg = TrainConfig(units=8, embed_dim=4, epochs=3, batch_size=16, seed=3)
    monkeypatch.setattr(fit_module, "save_epoch_checkpoint", full_disk)
    with caplog.at_level("WARNING", "hashtag_kit.training"), pytest.raises(KeyboardInterrupt):
        train(cfg, tr, va, len(tokens), checkpoint_dir=tmp_path / "ckpt", callbacks=[Crash(2)])
    assert "checkpoint was not written" in caplog.text and "No space left" in caplog.text
