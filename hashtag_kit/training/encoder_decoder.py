"""Training the encoder-decoder hashtag recommender on a run's cached features.

`load_run_data` turns a run directory (frozen split + cached features) into arrays, `train`
fits a `HashtagEncoderDecoder` on them through `hashtag_kit.training.fit` (epoch checkpoints: an
interrupted training ends where an uninterrupted one would, as each epoch's post order and tag
order come from `(seed, epoch)`; a `tf.distribute` strategy, `TrainConfig.strategy`), and
`evaluate` computes the ranking metrics at K = 1..10 on a test part.

The train part's image and text vectors are held in memory when they fit
`hashtag_kit.features.stream.MEMORY_BUDGET`, else streamed from the feature cache through
`tf.data` each epoch (`TrainConfig.input_mode`; the choice is logged and kept in
`RunData.input_mode`). The val and test parts are always held in memory.

Launch: notebook 02 (`python -m hashtag_kit reproduce` runs it headless).

Example:
    >>> data = load_run_data("outputs/default", TrainConfig())  # doctest: +SKIP
    >>> result = train(TrainConfig(epochs=5), data.train, data.val,
    ...                data.vocab_size)  # doctest: +SKIP
    >>> evaluate(result.model, data.test, data.tokens)["f1"]["5"]  # doctest: +SKIP
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from hashtag_kit.data.posts import Post
from hashtag_kit.evaluation.ranking import DEFAULT_KS, ranking_metrics
from hashtag_kit.features.cache import CachedFeatures, open_features
from hashtag_kit.features.stream import choose_mode, epoch_seed, feature_dataset
from hashtag_kit.models.encoder_decoder import HashtagEncoderDecoder, HashtagSetLoss
from hashtag_kit.run import RunDir
from hashtag_kit.training.checkpoints import key_folder
from hashtag_kit.training.fit import EpochArrays, TrainResult, fit
from hashtag_kit.vocabulary import N_SPECIAL, START, Vocabulary


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
        strategy: "none" (default), "mirrored" (the visible devices) or "multi_worker" (the
            machines TF_CONFIG names: `training.multi_worker`). `batch_size` is the global batch.
        input_mode: how `load_run_data` gives the train part's features: "auto" (in memory
            up to `features.stream.MEMORY_BUDGET` bytes, else streamed), "memory", "stream".
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
    input_mode: str = "auto"

    def smoke(self) -> TrainConfig:
        """A small copy for smoke runs (fewer epochs, smaller layers)."""
        return replace(self, units=64, embed_dim=32, epochs=min(self.epochs, 12))

    def variant(self) -> dict:
        """The fusion, personalisation and modality settings: what tells the variants apart."""
        return {k: getattr(self, k) for k in ("fusion", "personalisation", "modality")}


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
        streamed: inputs left in the feature cache, name -> `(CachedFeatures, "pooled")`
            (`make_arrays` given CachedFeatures): "image" and "text" are then not in `inputs`
            (their masks are) and `train` streams them; for training only.
    """

    ids: list[str]
    inputs: dict[str, np.ndarray]
    tags: np.ndarray
    truth: list[set[str]]
    users: list[str | None] = field(default_factory=list)
    streamed: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ids)

    def feature_dim(self, kind: str) -> int:
        """D of the "image" or "text" vectors, held or streamed."""
        if kind in self.streamed:
            return self.streamed[kind][0].dim
        return int(self.inputs[kind].shape[1])

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
            streamed=self.streamed,
        )

    def with_inputs(self, **arrays) -> PostArrays:
        """A copy with some inputs replaced (e.g. `text_mask=np.zeros(n)` to drop the text)."""
        return replace(self, inputs={**self.inputs, **arrays})

    def without(self, modality: str) -> PostArrays:
        """A copy where every post lacks `modality` ("text" or "image")."""
        mask = np.zeros(len(self), "float32")
        zeros = np.zeros_like(self.inputs[modality])
        return self.with_inputs(**{f"{modality}_mask": mask, modality: zeros})


def make_arrays(
    posts: Sequence[Post],
    image_features,
    text_features,
    tokens: Sequence[str],
    history: np.ndarray,
    max_tags: int,
    existing_len: int = 0,
) -> PostArrays:
    """Arrays for `posts` from FeatureSets (`hashtag_kit.features.cache`) and a history array.

    Args:
        posts: the posts, in the row order wanted.
        image_features, text_features: FeatureSets holding every post id (`pooled`, `mask`),
            or `CachedFeatures` to leave the vectors in the cache (`PostArrays.streamed`).
        tokens: the model's tokens (special tokens first).
        history: (n, H) int32 from `post_histories`.
        max_tags: L, the width of the `tags` array.
        existing_len: E, the width of the (all-zero) "existing" input.
    """
    ids = [p.id for p in posts]
    n = len(ids)
    inputs: dict[str, np.ndarray] = {}
    streamed: dict = {}
    for kind, fs in (("image", image_features), ("text", text_features)):
        if fs is None:
            raise ValueError(f"no {kind} features: extract them first (notebook 01)")
        if isinstance(fs, CachedFeatures):  # read from the shards by `train`
            streamed[kind] = (fs, "pooled")
            inputs[f"{kind}_mask"] = fs.mask(ids).astype("float32")
            continue
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
        streamed=streamed,
    )


@dataclass
class RunData:
    """A run's train/val/test arrays with the tokens, user histories and encoder names, and
    whether the train part's features are held in "memory" or left to "stream"."""

    tokens: list[str]
    users: dict[str, list[int]]
    train: PostArrays
    val: PostArrays
    test: PostArrays
    train_posts: list[Post]
    encoders: dict
    input_mode: str = "memory"

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
    """Read a run's frozen split, vocabulary and cached features into `RunData`.

    Only the pooled image and text vectors are read (never the grid). The train part's are
    held in memory or left in the cache by `config.input_mode` (`features.stream.choose_mode`,
    logged); the val and test parts' are held in memory.
    """
    rd = RunDir(run_dir)
    parts = rd.split_posts(split)
    tokens = make_tokens(rd.load_vocab()["hashtags"], config.max_vocab)
    train_posts = parts["train"]
    cached = {
        "image": open_features(rd.path, "image", image_encoder),
        "text": open_features(rd.path, "text", text_encoder),
    }
    sources = {kind: (cf, "pooled") for kind, cf in cached.items()}
    mode = choose_mode(sources, len(train_posts), config.input_mode)
    held = [p.id for part in ("train", "val", "test") for p in parts.get(part, [])]
    if mode == "stream":
        held = held[len(train_posts) :]
    loaded = {kind: cf.load(held, grid=False) for kind, cf in cached.items()}
    arrays = {}
    for part in ("train", "val", "test"):
        posts = parts.get(part, [])
        hist = post_histories(posts, train_posts, tokens, config.history_len)
        feats = cached if part == "train" and mode == "stream" else loaded
        arrays[part] = make_arrays(
            posts, feats["image"], feats["text"], tokens, hist, config.max_tags, config.existing_len
        )
    return RunData(
        tokens=tokens,
        users=user_histories(train_posts, tokens, config.history_len),
        **arrays,
        train_posts=list(train_posts),
        encoders={"image_encoder": cached["image"].encoder, "text_encoder": cached["text"].encoder},
        input_mode=mode,
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
def epoch_dataset(data: PostArrays, seed: int, epoch: int, batch_size: int):
    """The `(x, y)` batches of one epoch streamed from the feature cache (`data.streamed`):
    what `epoch_arrays` gives for held arrays, as a `tf.data.Dataset` of batches.

    `features.stream.feature_dataset` shuffles the posts seeded from (seed, epoch); each block's
    tags are shuffled per post by an rng from (seed, epoch, the block's first position), so
    "decoder_in" and the targets, both computed block by block, agree. Not the in-memory path's
    orders: a streamed training reaches the same quality, not the same numbers.
    """

    def tags_of(pos):  # (len(pos), L) int32: each post's tags in this epoch's order
        tags = data.tags[pos]
        keys = np.random.default_rng([seed, epoch, int(pos[0])]).random(tags.shape)
        keys[tags == 0] = 2.0  # padding stays at the end
        return np.take_along_axis(tags, np.argsort(keys, axis=1), axis=1)

    def decoder_in(pos):
        return np.concatenate([np.full((len(pos), 1), START, "int32"), tags_of(pos)], axis=1)

    arrays = {key: v for key, v in data.inputs.items() if key != "existing"}
    return feature_dataset(
        data.streamed,
        data.ids,
        {**arrays, "decoder_in": decoder_in},
        tags_of,
        batch_size=batch_size,
        shuffle=True,
        seed=epoch_seed(seed, epoch),
    )


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


#: settings a checkpoint may differ in: training longer from one is allowed, and the input mode
#: `load_run_data` chose is in the data's key
_UNKEYED = ("epochs", "strategy", "deterministic", "input_mode")


def _data_key(config: TrainConfig, train_data: PostArrays) -> dict:
    """What a checkpoint of this training must match: the configuration, and "stream" when
    the train part is streamed (other batches than in memory)."""
    key = {k: v for k, v in asdict(config).items() if k not in _UNKEYED}
    return {**key, **({"input": "stream"} if train_data.streamed else {})}


def checkpoint_folder(root: str | Path, config: TrainConfig, data: RunData) -> Path:
    """The checkpoint folder of one model trained on a run's data: `<root>/<digest>`
    (`key_folder`), the digest covering the configuration (as `train` checks it) and the data:
    the train and val post ids, the tokens and the feature encoders."""
    key = {
        "config": _data_key(config, data.train),
        "train": list(data.train.ids),
        "val": list(data.val.ids),
        "tokens": list(data.tokens),
        "encoders": data.encoders,
    }
    return key_folder(root, key)


def train(
    config: TrainConfig,
    train_data: PostArrays,
    val_data: PostArrays | None,
    vocab_size: int,
    *,
    checkpoint_dir: str | Path | None = None,
    checkpoint_every: float | None = None,
    strategy=None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    verbose: int = 0,
) -> TrainResult:
    """Train a `HashtagEncoderDecoder` through `hashtag_kit.training.fit` (epoch checkpoints,
    resumed if found; the best val epoch's weights kept when `restore_best`).

    Args:
        config: the model and optimisation settings.
        train_data, val_data: arrays from `make_arrays` / `load_run_data` (val may be None);
            a streamed train part (`PostArrays.streamed`) is read through `epoch_dataset`.
        vocab_size: number of tokens.
        checkpoint_dir: folder for the epoch checkpoints, resumed as `fit` does
            (`checkpoint_folder` gives one per configuration and data).
        checkpoint_every: seconds between written checkpoints (`fit`'s; None: its default).
        strategy: overrides `config.strategy` ("none", "mirrored", "multi_worker" or a
            tf.distribute.Strategy).
        callbacks: extra Keras callbacks; verbose: Keras fit verbosity.
    """
    if len(train_data) == 0:
        raise ValueError("no training posts: check the run's split")
    if not (train_data.tags > 0).any():
        raise ValueError("no training post has an in-vocabulary hashtag; nothing to learn")
    if config.deterministic:
        tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(config.seed)
    val = None
    if val_data is not None and len(val_data) and (val_data.tags > 0).any():
        val = epoch_arrays(val_data, config.seed, 0, shuffle=False)
    dims = train_data.feature_dim("image"), train_data.feature_dim("text")

    def batches_of(epoch: int):  # held arrays: `fit` cuts them into batches inside tf.data
        if train_data.streamed:
            return epoch_dataset(train_data, config.seed, epoch, config.batch_size)
        return EpochArrays(*epoch_arrays(train_data, config.seed, epoch), config.batch_size)

    return fit(
        lambda: build_model(config, vocab_size, *dims),
        batches_of,
        val,
        epochs=config.epochs,
        batch_size=config.batch_size,
        restore_best=config.restore_best,
        checkpoint_dir=checkpoint_dir,
        checkpoint_every=checkpoint_every,
        key=_data_key(config, train_data),
        strategy=strategy if strategy is not None else config.strategy,
        callbacks=callbacks,
        verbose=verbose,
    )


# -- evaluation ----------------------------------------------------------------------------------
def recommend_tags(
    model: HashtagEncoderDecoder,
    data: PostArrays,
    tokens: Sequence[str],
    k: int = 10,
    beam_width: int = 3,
) -> list[list[str]]:
    """Ranked tag names (k per post) from `model.decode` on `data`'s inputs (held, not streamed)."""
    if data.streamed:
        raise ValueError("streamed arrays are for training: evaluate on a part held in memory")
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
