"""Training the encoder-decoder hashtag recommender on a run's cached features.

`load_run_data` turns a run directory (frozen split + cached features) into arrays, `train`
fits a `HashtagEncoderDecoder` on them with a checkpoint after every epoch (an interrupted
training resumes from the last checkpoint and ends where an uninterrupted one would: each
epoch's post order and tag order come from `(seed, epoch)`, and the model file carries the
optimizer and dropout-generator states), optionally under a `tf.distribute` strategy
("mirrored" spreads each batch over the visible devices, e.g. several GPUs), and `evaluate`
computes the ranking metrics at K = 1..10 on a test part.

Launch: notebook 02 (`python -m hashtag_kit reproduce` runs it headless); each model trains in
about 15 s on the embedded data on 2 CPU cores (the seed study prints each one's time).

Example:
    >>> data = load_run_data("outputs/default", TrainConfig())  # doctest: +SKIP
    >>> result = train(TrainConfig(epochs=5), data.train, data.val, data.vocab_size)  # doctest: +SKIP
    >>> evaluate(result.model, data.test, data.tokens)["f1"]["5"]  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import keras
import numpy as np

from hashtag_kit.data.posts import Post
from hashtag_kit.evaluation.ranking import DEFAULT_KS, ranking_metrics
from hashtag_kit.files import atomic_path, file_sha256, sweep_stale_temps, write_json
from hashtag_kit.models.encoder_decoder import HashtagEncoderDecoder, HashtagSetLoss
from hashtag_kit.vocabulary import N_SPECIAL, START, Vocabulary

log = logging.getLogger("hashtag_kit.training")


@dataclass
class TrainConfig:
    """Everything that decides a trained model (full-size defaults; `smoke()` shrinks them).

    Args:
        fusion: "concat", "sum" or "weighted".
        personalisation: use the user-history encoder.
        modality: "both", "image" or "text".
        units, embed_dim: sizes of the fused vector / LSTM state and of tag embeddings.
        dropout, modality_dropout: dropout on decoder outputs; modality dropout rate.
        history_len: H, earlier tags per user fed to the history encoder.
        existing_len: E, tags already typed a recommender call accepts.
        max_tags: L, most tags per post the decoder is trained to emit.
        max_vocab: keep only the most frequent tags of the run's vocabulary (None = all).
        epochs, batch_size, learning_rate: optimisation.
        seed: seeds weights, modality dropout and the per-epoch shuffles.
        restore_best: end with the weights of the epoch with the lowest validation loss
            (when there is validation data), not those of the last epoch.
        deterministic: make TensorFlow's ops deterministic (process-wide,
            `tf.config.experimental.enable_op_determinism`): without it, multi-threaded CPU
            reductions differ in the last bits between runs and 30 epochs amplify that into
            different models. Costs a little speed.
        strategy: "none" (default), "mirrored" (tf.distribute.MirroredStrategy over the
            visible devices).
    """

    fusion: str = "weighted"
    personalisation: bool = True
    modality: str = "both"
    units: int = 256
    embed_dim: int = 128
    dropout: float = 0.2
    modality_dropout: float = 0.3
    history_len: int = 20
    existing_len: int = 5
    max_tags: int = 10
    max_vocab: int | None = None
    epochs: int = 30
    batch_size: int = 64
    learning_rate: float = 2e-3
    seed: int = 0
    restore_best: bool = True
    deterministic: bool = True
    strategy: str = "none"

    def smoke(self) -> TrainConfig:
        """A small copy for smoke runs (fewer epochs, smaller layers)."""
        return replace(self, units=64, embed_dim=32, epochs=min(self.epochs, 12))

    def variant(self) -> dict:
        return {
            "fusion": self.fusion,
            "personalisation": self.personalisation,
            "modality": self.modality,
        }


# -- vocabulary and user histories ---------------------------------------------------------------
def make_tokens(hashtags: Sequence[str], max_vocab: int | None = None) -> list[str]:
    """Special tokens then the tags (most frequent first, as `vocab.json` lists them)."""
    return Vocabulary.of(hashtags, max_vocab or None).tokens


def _tag_counts(posts: Sequence[Post], index: dict) -> dict[str, Counter]:
    counts: dict[str, Counter] = {}
    for p in posts:
        if p.user is None:
            continue
        c = counts.setdefault(str(p.user), Counter())
        c.update(index[t] for t in dict.fromkeys(p.hashtags) if t in index)
    return counts


def _top(counter: Counter, n: int) -> list[int]:
    # most used first; ties by id (= global frequency order)
    return [i for i, c in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])) if c > 0][:n]


def user_histories(
    train_posts: Sequence[Post], tokens: Sequence[str], history_len: int
) -> dict[str, list[int]]:
    """{user: tag ids of the user's training posts, most used first, at most `history_len`}."""
    index = {t: i for i, t in enumerate(tokens) if i >= N_SPECIAL}
    return {u: _top(c, history_len) for u, c in _tag_counts(train_posts, index).items()}


def post_histories(
    posts: Sequence[Post], train_posts: Sequence[Post], tokens: Sequence[str], history_len: int
) -> np.ndarray:
    """History ids (n, history_len) for each post: its user's training-post tags.

    A training post's own tags are left out of its history (leave-one-out), so the model never
    learns to copy a history that contains the answer; unknown users get an empty (all 0) row.
    """
    index = {t: i for i, t in enumerate(tokens) if i >= N_SPECIAL}
    counts = _tag_counts(train_posts, index)
    train_ids = {p.id for p in train_posts}
    out = np.zeros((len(posts), history_len), "int32")
    for row, p in enumerate(posts):
        if p.user is None or str(p.user) not in counts:
            continue
        c = counts[str(p.user)]
        if p.id in train_ids:
            c = c.copy()
            c.subtract(index[t] for t in dict.fromkeys(p.hashtags) if t in index)
        ids = _top(c, history_len)
        out[row, : len(ids)] = ids
    return out


# -- arrays --------------------------------------------------------------------------------------
@dataclass
class PostArrays:
    """Model inputs and targets for a list of posts.

    Fields:
        ids: post ids, in row order.
        inputs: "image" (n, Di) float32, "image_mask" (n,), "text" (n, Dt), "text_mask" (n,),
            "history" (n, H) int32, "existing" (n, E) int32 (all 0: nothing typed).
        tags: (n, L) int32 in-vocabulary tag ids of each post, most frequent first, 0-padded.
        truth: each post's full hashtag set (out-of-vocabulary tags included: they count as
            misses, as they would for a user).
        users: each post's user (or None).
    """

    ids: list[str]
    inputs: dict[str, np.ndarray]
    tags: np.ndarray
    truth: list[set[str]]
    users: list[str | None] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ids)

    def subset(self, rows) -> PostArrays:
        """The rows selected by a boolean mask or an index array."""
        rows = np.asarray(rows)
        if rows.dtype == bool:
            rows = np.flatnonzero(rows)
        return PostArrays(
            ids=[self.ids[i] for i in rows],
            inputs={k: v[rows] for k, v in self.inputs.items()},
            tags=self.tags[rows],
            truth=[self.truth[i] for i in rows],
            users=[self.users[i] for i in rows] if self.users else [],
        )

    def with_inputs(self, **arrays) -> PostArrays:
        """A copy with some inputs replaced (e.g. `text_mask=np.zeros(n)` to drop the text)."""
        return replace(self, inputs={**self.inputs, **arrays})

    def without(self, modality: str) -> PostArrays:
        """A copy where every post lacks `modality` ("text" or "image")."""
        n = len(self)
        return self.with_inputs(
            **{
                f"{modality}_mask": np.zeros(n, "float32"),
                modality: np.zeros_like(self.inputs[modality]),
            }
        )


def make_arrays(
    posts: Sequence[Post],
    image_features,
    text_features,
    tokens: Sequence[str],
    history: np.ndarray,
    max_tags: int,
    existing_len: int = 0,
) -> PostArrays:
    """Arrays for `posts` from FeatureSets (`hashtag_kit.encoders.cache`) and a history array.

    Args:
        posts: the posts, in the row order wanted.
        image_features, text_features: FeatureSets holding every post id (`pooled`, `mask`),
            or None when the run has no such modality (all posts then lack it).
        tokens: the model's tokens (special tokens first).
        history: (n, H) int32 from `post_histories`.
        max_tags: L, the width of the `tags` array.
        existing_len: E, the width of the (all-zero) "existing" input.
    """
    ids = [p.id for p in posts]
    n = len(ids)
    inputs: dict[str, np.ndarray] = {}
    for kind, fs in (("image", image_features), ("text", text_features)):
        if fs is None:
            raise ValueError(f"no {kind} features: extract them first (notebook 01)")
        taken = fs.take(ids)
        inputs[kind] = np.asarray(taken.pooled, "float32")
        inputs[f"{kind}_mask"] = np.asarray(taken.mask, "float32").reshape(n)
    inputs["history"] = np.asarray(history, "int32").reshape(n, -1)
    inputs["existing"] = np.zeros((n, existing_len), "int32")
    index = {t: i for i, t in enumerate(tokens) if i >= N_SPECIAL}
    tags = np.zeros((n, max_tags), "int32")
    for row, p in enumerate(posts):
        known = sorted({index[t] for t in p.hashtags if t in index})[:max_tags]
        tags[row, : len(known)] = known
    return PostArrays(
        ids=ids,
        inputs=inputs,
        tags=tags,
        truth=[set(p.hashtags) for p in posts],
        users=[p.user for p in posts],
    )


@dataclass
class RunData:
    """A run's train/val/test arrays with the tokens, user histories and encoder names."""

    tokens: list[str]
    users: dict[str, list[int]]
    train: PostArrays
    val: PostArrays
    test: PostArrays
    train_posts: list[Post]
    encoders: dict

    @property
    def vocab_size(self) -> int:
        return len(self.tokens)


def load_run_data(
    run_dir,
    config: TrainConfig,
    split: str = "random",
    image_encoder: str = "auto",
    text_encoder: str = "auto",
) -> RunData:
    """Read a run's frozen split, vocabulary and cached features into `RunData`."""
    from hashtag_kit.encoders.cache import load_features
    from hashtag_kit.run import RunDir

    rd = RunDir(run_dir)
    parts = rd.split_posts(split)
    tokens = make_tokens(rd.load_vocab()["hashtags"], config.max_vocab)
    train_posts = parts["train"]
    image_fs = load_features(rd.path, "image", image_encoder)
    text_fs = load_features(rd.path, "text", text_encoder)
    arrays = {}
    for part in ("train", "val", "test"):
        posts = parts.get(part, [])
        hist = post_histories(posts, train_posts, tokens, config.history_len)
        arrays[part] = make_arrays(
            posts, image_fs, text_fs, tokens, hist, config.max_tags, config.existing_len
        )
    return RunData(
        tokens=tokens,
        users=user_histories(train_posts, tokens, config.history_len),
        train=arrays["train"],
        val=arrays["val"],
        test=arrays["test"],
        train_posts=list(train_posts),
        encoders={"image_encoder": image_fs.encoder, "text_encoder": text_fs.encoder},
    )


def epoch_arrays(data: PostArrays, seed: int, epoch: int, shuffle: bool = True):
    """(x, y) of one epoch: posts permuted and each post's tags shuffled, from (seed, epoch).

    `x` holds the model inputs plus "decoder_in" = `<start>` then the tags; `y` the tags in the
    same order (the `HashtagSetLoss` target). With `shuffle=False`: file order, frequency order.
    """
    n = len(data)
    tags = data.tags.copy()
    rows = np.arange(n)
    if shuffle:
        rng = np.random.default_rng([seed, epoch])
        rows = rng.permutation(n)
        tags = tags[rows]
        for r in range(n):
            k = int((tags[r] > 0).sum())
            tags[r, :k] = tags[r, rng.permutation(k)]
    x = {key: v[rows] for key, v in data.inputs.items() if key != "existing"}
    x["decoder_in"] = np.concatenate([np.full((n, 1), START, "int32"), tags], axis=1)
    return x, tags


# -- training ------------------------------------------------------------------------------------
def get_strategy(strategy=None):
    """A `tf.distribute.Strategy` from "none"/None (the default strategy), "mirrored" or an
    existing strategy object."""
    import tensorflow as tf

    if strategy is None or strategy == "none":
        return tf.distribute.get_strategy()
    if isinstance(strategy, tf.distribute.Strategy):
        return strategy
    if strategy == "mirrored":
        return tf.distribute.MirroredStrategy()
    raise ValueError(f"strategy must be 'none', 'mirrored' or a tf.distribute.Strategy: {strategy}")


def build_model(config: TrainConfig, vocab_size: int, image_dim: int, text_dim: int):
    """A compiled `HashtagEncoderDecoder` for `config` (call inside a strategy scope)."""
    model = HashtagEncoderDecoder(
        vocab_size=vocab_size,
        image_dim=image_dim,
        text_dim=text_dim,
        units=config.units,
        embed_dim=config.embed_dim,
        fusion=config.fusion,
        personalisation=config.personalisation,
        modality=config.modality,
        modality_dropout=config.modality_dropout,
        dropout=config.dropout,
        seed=config.seed,
    )
    model.build()
    model.compile(
        optimizer=keras.optimizers.Adam(config.learning_rate, clipnorm=5.0),
        loss=HashtagSetLoss(),
        jit_compile=False,  # XLA compilation costs more than it saves on small CPU runs
    )
    return model


class _StepTimer(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.times: list[float] = []
        self._t = 0.0

    def on_train_batch_begin(self, batch, logs=None):
        self._t = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.times.append(time.perf_counter() - self._t)


@dataclass
class TrainResult:
    """What `train` returns.

    Fields:
        model: the trained model (weights after the last epoch).
        history: {"loss": [...], "val_loss": [...]} per epoch (resumed epochs included).
        ms_per_step: median wall time of a training step in ms (first steps skipped: tracing).
        trainable_params: scalar trainable parameter count.
        resumed_from_epoch: epochs already done when a checkpoint was found (0 = fresh start).
        best_epoch: the epoch (0-based) whose weights the model ends with.
        checkpoint_notes: damaged checkpoints skipped on resume (one line each).
    """

    model: HashtagEncoderDecoder
    history: dict
    ms_per_step: float | None
    trainable_params: int
    resumed_from_epoch: int = 0
    best_epoch: int | None = None
    checkpoint_notes: list = field(default_factory=list)


def _config_key(config: TrainConfig) -> dict:
    d = asdict(config)
    d.pop("epochs")  # training longer from a checkpoint is allowed
    d.pop("strategy")
    d.pop("deterministic")
    return d


def checkpoint_folder(root: str | Path, config: TrainConfig, data: RunData) -> Path:
    """The checkpoint folder of one model trained on a run's data: `<root>/<digest>`.

    The digest covers the configuration (the number of epochs aside, as in `train`'s own
    check) and the data: the train and val post ids, the tokens and the feature encoders. A
    re-run after an interruption finds its checkpoint and resumes; another configuration or
    other data gets a folder of its own, so nothing stale is ever resumed.
    """
    key = {
        "config": _config_key(config),
        "train": list(data.train.ids),
        "val": list(data.val.ids),
        "tokens": list(data.tokens),
        "encoders": data.encoders,
    }
    text = json.dumps(key, sort_keys=True, default=str).encode("utf-8")
    return Path(root) / hashlib.sha256(text).hexdigest()[:16]


class CheckpointError(ValueError):
    """A checkpoint file is damaged (truncated, changed, unreadable)."""


def _verified(checkpoint_dir: Path, name: str | None, digest: str | None) -> Path:
    """The path of a checkpoint file after checking its SHA-256 (CheckpointError if not)."""
    if not name or not digest:
        raise CheckpointError("the state names no file or no digest")
    path = checkpoint_dir / name
    if not path.is_file():
        raise CheckpointError(f"{name} is missing")
    if file_sha256(path) != digest:
        raise CheckpointError(f"{name} is damaged (its SHA-256 differs from the one recorded)")
    return path


def _read_checkpoint(checkpoint_dir: Path, state_file: Path, key: dict):
    """One epoch's checkpoint, verified: `(model, state, best_weights)`. Raises CheckpointError
    for a damaged one, ValueError for one of another configuration."""
    try:
        state = json.loads(state_file.read_text(encoding="utf-8"))
        if not isinstance(state, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as e:
        raise CheckpointError(f"{state_file.name} is unreadable ({e})") from None
    if state.get("config") != json.loads(json.dumps(key)):
        raise ValueError(
            f"{checkpoint_dir}: the checkpoint was made with another configuration "
            f"({state.get('config')}); use another checkpoint folder or delete this one"
        )
    path = _verified(checkpoint_dir, state.get("file"), state.get("sha256"))
    best_weights = None
    if state.get("best_file"):
        best = _verified(checkpoint_dir, state["best_file"], state.get("best_sha256"))
        with np.load(best) as z:
            best_weights = [z[f"arr_{i}"] for i in range(len(z.files))]
    try:
        model = keras.saving.load_model(path)
        for var, value in zip(_seed_states(model), state["seed_states"], strict=True):
            var.assign(np.asarray(value, dtype=var.dtype))
    except Exception as e:  # noqa: BLE001 - a checkpoint that passed its digest but not Keras
        raise CheckpointError(f"{path.name} does not load ({type(e).__name__}: {e})") from None
    return model, state, best_weights


def load_epoch_checkpoint(checkpoint_dir: str | Path | None, key: dict, notes=None):
    """Resume state from `checkpoint_dir`, or None when it holds no usable checkpoint.

    Returns `(model, state, best_weights)` of the latest epoch whose checkpoint verifies: the
    model of that finished epoch (weights and optimizer state, from its `.keras` file), its
    `state` ({"epoch", "history", "best_epoch", ...} plus what the trainer stored with it), and
    the best epoch's weights (or None). The dropout random-number states are restored too, so
    a resumed training ends where an uninterrupted one would.

    Every file is checked against the SHA-256 its state recorded. A damaged checkpoint (a
    truncated `.keras` or state file, a changed `best_NNNN.npz`) is skipped with a warning and
    a line appended to `notes`; the previous epoch's checkpoint (the folder keeps two) is
    used instead, or None (start over) when none verifies. A checkpoint made with another
    `key` (configuration and data) is an error, never resumed.
    """
    if checkpoint_dir is None or not Path(checkpoint_dir).is_dir():
        return None
    checkpoint_dir = Path(checkpoint_dir)
    sweep_stale_temps(checkpoint_dir)
    for state_file in sorted(checkpoint_dir.glob("epoch_*.json"), reverse=True):
        try:
            return _read_checkpoint(checkpoint_dir, state_file, key)
        except CheckpointError as e:
            note = f"{checkpoint_dir}: checkpoint {state_file.stem} skipped: {e}"
            log.warning("%s", note)
            if notes is not None:
                notes.append(note)
    if notes:
        notes.append(f"{checkpoint_dir}: no checkpoint verifies; training starts over")
        log.warning("%s", notes[-1])
    return None


def _seed_states(model) -> list:
    # the random-number states of dropout / modality dropout, in the model's variable order:
    # `.keras` files do not restore them, so checkpoints carry them for an exact resume
    return [v for v in model.non_trainable_variables if v.path.endswith("seed_generator_state")]


#: epochs whose checkpoints a folder keeps: the last one and the one before (a fallback)
KEEP_CHECKPOINTS = 2


def save_epoch_checkpoint(
    checkpoint_dir: str | Path, model, key: dict, epoch: int, history, best, **extra
) -> None:
    """Write the checkpoint of a finished epoch: `epoch_NNNN.keras` (weights and optimizer),
    `best_NNNN.npz` when this epoch is the best so far, and `epoch_NNNN.json` last (the
    commit point: the state, with the SHA-256 of the files it names), each atomically; then
    remove the files no longer needed (the folder keeps the last `KEEP_CHECKPOINTS` epochs and
    the best weights they name). `best` is `(best_epoch, best_weights)`; `extra` is stored in
    the state for the trainer (e.g. early-stopping counters)."""
    checkpoint_dir = Path(checkpoint_dir)
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    name = f"epoch_{epoch:04d}.keras"
    with atomic_path(checkpoint_dir / name) as tmp:
        model.save(tmp)
    best_epoch, best_weights = best
    best_file = None if best_weights is None else f"best_{best_epoch:04d}.npz"
    if best_file and (best_epoch == epoch or not (checkpoint_dir / best_file).is_file()):
        with atomic_path(checkpoint_dir / best_file) as tmp:
            np.savez(tmp, *best_weights)
    state = {
        "epoch": epoch,
        "file": name,
        "sha256": file_sha256(checkpoint_dir / name),
        "best_file": best_file,
        "best_sha256": file_sha256(checkpoint_dir / best_file) if best_file else None,
        "history": history,
        "config": key,
        "seed_states": [keras.ops.convert_to_numpy(v).tolist() for v in _seed_states(model)],
        "best_epoch": best_epoch,
        **extra,
    }
    write_json(checkpoint_dir / f"epoch_{epoch:04d}.json", state)
    states = sorted(checkpoint_dir.glob("epoch_*.json"), reverse=True)
    keep = {p.name for p in states[:KEEP_CHECKPOINTS]}
    for p in states[:KEEP_CHECKPOINTS]:
        try:
            kept = json.loads(p.read_text(encoding="utf-8"))
            keep |= {kept.get("file"), kept.get("best_file")}
        except (OSError, ValueError):
            pass
    for old in [*checkpoint_dir.glob("epoch_*"), *checkpoint_dir.glob("best*.npz")]:
        if old.name not in keep:
            old.unlink(missing_ok=True)
    (checkpoint_dir / "state.json").unlink(missing_ok=True)  # the layout before 2026-12


def record_epoch(history: dict, fit_history, model, epoch: int, best, restore_best=True):
    """Append one `fit` epoch's loss (and val loss) to `history`; returns `(best_epoch,
    best_weights)`: this epoch's weights when its val loss is the lowest so far (and
    `restore_best`), else `best` unchanged."""
    history["loss"].append(float(fit_history.history["loss"][-1]))
    if "val_loss" in fit_history.history:
        history["val_loss"].append(float(fit_history.history["val_loss"][-1]))
        if restore_best and history["val_loss"][-1] <= min(history["val_loss"]):
            return epoch, [np.array(w) for w in model.get_weights()]
    return best


def train(
    config: TrainConfig,
    train_data: PostArrays,
    val_data: PostArrays | None,
    vocab_size: int,
    *,
    checkpoint_dir: str | Path | None = None,
    strategy=None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    verbose: int = 0,
) -> TrainResult:
    """Train a `HashtagEncoderDecoder`, checkpointing after each epoch and resuming if possible.

    Args:
        config: the model and optimisation settings.
        train_data, val_data: arrays from `make_arrays` / `load_run_data` (val may be None).
        vocab_size: number of tokens.
        checkpoint_dir: folder for the epoch checkpoints (`save_epoch_checkpoint`); when it
            already holds a checkpoint of the same configuration, training continues after its
            epoch (a damaged one is skipped: see `load_epoch_checkpoint`).
        strategy: overrides `config.strategy` ("none", "mirrored" or a tf.distribute.Strategy).
        callbacks: extra Keras callbacks for every epoch.
        verbose: Keras fit verbosity.
    """
    if len(train_data) == 0:
        raise ValueError("no training posts: check the run's split")
    if not (train_data.tags > 0).any():
        raise ValueError("no training post has an in-vocabulary hashtag; nothing to learn")
    if config.deterministic:
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    strat = get_strategy(strategy if strategy is not None else config.strategy)
    ckpt = Path(checkpoint_dir) if checkpoint_dir is not None else None
    key = _config_key(config)
    keras.utils.set_random_seed(config.seed)
    history: dict = {"loss": [], "val_loss": []}
    start = 0
    best_epoch, best_weights = None, None
    with strat.scope():
        notes: list = []
        found = load_epoch_checkpoint(ckpt, key, notes)
        if found is not None:
            model, state, best_weights = found
            start, history = int(state["epoch"]) + 1, state["history"]
            best_epoch = state.get("best_epoch")
        else:
            model = build_model(
                config,
                vocab_size,
                train_data.inputs["image"].shape[1],
                train_data.inputs["text"].shape[1],
            )
    val = None
    if val_data is not None and len(val_data) and (val_data.tags > 0).any():
        vx, vy = epoch_arrays(val_data, config.seed, 0, shuffle=False)
        val = (vx, vy)
    timer = _StepTimer()
    for epoch in range(start, config.epochs):
        x, y = epoch_arrays(train_data, config.seed, epoch)
        h = model.fit(
            x,
            y,
            batch_size=config.batch_size,
            epochs=epoch + 1,
            initial_epoch=epoch,
            shuffle=False,
            validation_data=val,
            callbacks=[timer, *callbacks],
            verbose=verbose,
        )
        best_epoch, best_weights = record_epoch(
            history, h, model, epoch, (best_epoch, best_weights), config.restore_best
        )
        if ckpt is not None:
            save_epoch_checkpoint(ckpt, model, key, epoch, history, (best_epoch, best_weights))
    if best_weights is not None:
        model.set_weights(best_weights)
    else:
        best_epoch = config.epochs - 1
    steps = timer.times[3:] or timer.times
    return TrainResult(
        model=model,
        history=history,
        ms_per_step=float(np.median(steps) * 1000) if steps else None,
        trainable_params=count_params(model),
        resumed_from_epoch=start,
        best_epoch=best_epoch,
        checkpoint_notes=notes,
    )


def count_params(model) -> int:
    """Scalar trainable parameter count."""
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


# -- evaluation ----------------------------------------------------------------------------------
def recommend_tags(
    model: HashtagEncoderDecoder,
    data: PostArrays,
    tokens: Sequence[str],
    k: int = 10,
    beam_width: int = 3,
) -> list[list[str]]:
    """Ranked tag names (k per post) from `model.decode` on `data`'s inputs."""
    ids, _ = model.decode(data.inputs, k=k, beam_width=beam_width)
    return [[tokens[i] for i in row] for row in ids]


def evaluate(
    model: HashtagEncoderDecoder,
    data: PostArrays,
    tokens: Sequence[str],
    ks=DEFAULT_KS,
    beam_width: int = 3,
) -> dict:
    """`hashtag_kit.evaluation.ranking.ranking_metrics` of the model's top-K lists on `data`."""
    ks = list(ks)
    ranked = recommend_tags(model, data, tokens, k=max(ks), beam_width=beam_width)
    return ranking_metrics(ranked, data.truth, ks)


__all__ = [
    "PostArrays",
    "RunData",
    "TrainConfig",
    "TrainResult",
    "build_model",
    "count_params",
    "epoch_arrays",
    "evaluate",
    "get_strategy",
    "load_run_data",
    "make_arrays",
    "make_tokens",
    "post_histories",
    "recommend_tags",
    "train",
    "user_histories",
]
