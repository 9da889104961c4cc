"""Training the tag classifiers of notebook 03 through the kit's one loop (`training.fit`):
`fit_classifier` (in memory or streamed from the feature cache, per-epoch checkpoints with an
exact resume, a distribution strategy), and the two models' `train_*` functions: the
LSTM/Bi-LSTM attention classifier (`hashtag_kit.models.attention_classifier`, the original
project) and the CNN-RNN (`hashtag_kit.models.cnn_rnn`, Wang et al. 2016)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import keras
import numpy as np

from hashtag_kit.data.posts import Post
from hashtag_kit.features import stream
from hashtag_kit.features.cache import CachedFeatures
from hashtag_kit.models.attention_classifier import (
    AttentionHashtagClassifier,
    WordVocabulary,
    attention_inputs,
    compile_classifier,
    multi_hot,
    tag_frequency,
)
from hashtag_kit.models.cnn_rnn import CNNRNNTagger, compile_cnn_rnn, tag_sequences
from hashtag_kit.training.checkpoints import training_key
from hashtag_kit.training.fit import fit, get_strategy
from hashtag_kit.vocabulary import N_SPECIAL


def _rows(values, n: int):
    return values(np.arange(n)) if callable(values) else values


def fit_classifier(
    build, data, val, *, epochs, checkpoint_dir, callbacks, verbose, strategy=None,
    input_mode="auto", key_data=(), **settings,
):  # fmt: skip
    """`hashtag_kit.training.fit` for the tag classifiers (this one and the CNN-RNN).

    `build()` gives the compiled model; it runs inside the strategy's scope ("none",
    "mirrored", "multi_worker" or a tf.distribute.Strategy).

    `data` and `val` (or None) are `(sources, ids, arrays, targets)` as
    `hashtag_kit.features.stream.feature_dataset` takes them. `input_mode="auto"` holds them
    in memory when the sources' features of train and val fit the memory budget, else streams
    them from the cache's shards (`features.stream.choose_mode`, logged); "memory" / "stream"
    force it. In memory, Keras shuffles the training arrays; streamed, epoch e reads a
    `feature_dataset` shuffled with a seed of (settings["seed"], e), so a resumed training
    reads the batches an uninterrupted one would. Every epoch counts (no restore-best); epoch
    checkpoints in `<checkpoint_dir>/<model class>-<digest>/` (None: none; removed when
    training ends) resume an interrupted run. The digest covers `settings` (with "batch_size"
    and "seed"), the input mode, the post ids, the features' content keys, the arrays and
    array targets, and `key_data` (what callable targets are made of).

    Returns `(model, info)`, info = {"history", "ms_per_step", "trainable_params",
    "resumed_from_epoch", "checkpoint_notes", "input_mode"}.
    """
    strategy = get_strategy(strategy)
    with strategy.scope():
        model = build()
    sources, ids, arrays, targets = data
    n = len(ids) + (len(val[1]) if val else 0)
    mode = stream.choose_mode(sources, n, input_mode)
    batch_size = settings["batch_size"]
    if mode == "memory":
        train = (stream.load_inputs(sources, ids, arrays), _rows(targets, len(ids)))
        if val is not None:
            val = (stream.load_inputs(*val[:3]), _rows(val[3], len(val[1])))
    else:

        def train(epoch):
            seed = stream.epoch_seed(settings["seed"], epoch)
            return stream.feature_dataset(
                sources, ids, arrays, targets, batch_size=batch_size, shuffle=True, seed=seed
            )

        if val is not None:
            val = stream.feature_dataset(*val, batch_size=batch_size)
    features = [[f.encoder.get("id"), field, f.keys_of(ids)] for f, field in sources.values()]
    given = [v for v in [*arrays.values(), targets] if not callable(v)]
    folder, key = training_key(
        checkpoint_dir, model, {**settings, "input_mode": mode}, list(ids), features, *given,
        *key_data,
    )  # fmt: skip
    result = fit(
        model,
        train,
        val,
        epochs=epochs,
        batch_size=batch_size,
        shuffle=mode == "memory",
        restore_best=False,
        checkpoint_dir=folder,
        keep_checkpoint=False,
        key=key,
        strategy=strategy,
        callbacks=callbacks,
        verbose=verbose,
    )
    info = {"history": {k: v for k, v in result.history.items() if v}}
    for k in ("ms_per_step", "trainable_params", "resumed_from_epoch", "checkpoint_notes"):
        info[k] = getattr(result, k)
    return result.model, {**info, "input_mode": mode}


def train_attention_classifier(
    train_posts: Sequence[Post],
    val_posts: Sequence[Post],
    tags: Sequence[str],
    image_features=None,
    words: WordVocabulary | None = None,
    *,
    modality: str = "both",
    fusion: str = "concat",
    units: int = 128,
    embedding_dim: int = 64,
    max_len: int = 24,
    epochs: int = 20,
    batch_size: int = 32,
    learning_rate: float = 3e-3,
    loss: str = "bce",
    dropout: float = 0.2,
    prior_bias: bool = True,
    seed: int = 0,
    input_mode: str = "auto",
    strategy=None,
    checkpoint_dir: str | Path | None = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    verbose: int = 0,
) -> tuple[AttentionHashtagClassifier, dict]:
    """Build, compile and fit one `AttentionHashtagClassifier` (seeded).

    Args:
        train_posts, val_posts: the frozen split's parts (val gives `val_loss`).
        tags: the tag vocabulary (output order).
        image_features: `CachedFeatures` with grids (`open_features`: the grids are read as
            `input_mode` says) or a loaded FeatureSet with a region grid; needed unless
            modality="text" (which reads no image features).
        words: caption word vocabulary (needed unless modality="image").
        modality, fusion, units, embedding_dim, dropout: see `AttentionHashtagClassifier`.
        max_len: caption length in tokens.
        epochs, batch_size, learning_rate, loss: training settings (`loss`: "bce" | "focal").
        prior_bias: start the output bias at each tag's training log-odds, so training spends
            its first epochs on the evidence rather than on re-learning tag popularity.
        seed: `keras.utils.set_random_seed` before building.
        input_mode, strategy, checkpoint_dir, callbacks: see `fit_classifier` (input_mode
            "auto": grids in memory when they fit; `batch_size` is the global batch).

    Returns:
        `(model, info)` from `fit_classifier`, info["history"] = {"loss": [...], "val_loss":
        [...]}.
    """
    keras.utils.set_random_seed(seed)
    use_img = modality in ("both", "image")
    use_txt = modality in ("both", "text")
    if use_img and image_features is None:
        raise ValueError(f"modality={modality!r} needs image_features (a FeatureSet with grid)")
    if use_txt and words is None:
        raise ValueError(f"modality={modality!r} needs a WordVocabulary")

    def inputs(posts):  # (sources, ids, arrays, targets); targets built block by block
        img, txt = image_features if use_img else None, words if use_txt else None
        sources, arrays = attention_inputs(posts, img, txt, max_len)
        return (
            sources,
            [p.id for p in posts],
            arrays,
            lambda pos: multi_hot([posts[i] for i in pos], tags),
        )

    data = inputs(train_posts)
    sources, ids, arrays, _ = data
    first = stream.load_inputs(sources, ids[:1], {k: v[:1] for k, v in arrays.items()})

    def build():
        model = AttentionHashtagClassifier(
            len(tags),
            words.size if words is not None else N_SPECIAL,
            modality=modality,
            fusion=fusion,
            units=units,
            embedding_dim=embedding_dim,
            dropout=dropout,
        )
        model(first)  # build
        if prior_bias:
            freq = np.clip(tag_frequency(train_posts, tags), 1e-4, 1 - 1e-4)
            kernel, _ = model.classifier.get_weights()
            model.classifier.set_weights([kernel, np.log(freq / (1 - freq)).astype(np.float32)])
        return compile_classifier(model, loss, learning_rate)

    val = inputs(val_posts) if len(val_posts) else None
    return fit_classifier(
        build, data, val, epochs=epochs, checkpoint_dir=checkpoint_dir, callbacks=callbacks,
        verbose=verbose, strategy=strategy, input_mode=input_mode,
        key_data=[[p.hashtags for p in train_posts], list(tags)], batch_size=batch_size,
        learning_rate=learning_rate, loss=loss, prior_bias=prior_bias, seed=seed,
    )  # fmt: skip


def train_cnn_rnn(
    train_posts: Sequence[Post],
    val_posts: Sequence[Post],
    tags: Sequence[str],
    image,
    val_image=None,
    *,
    joint_dim: int = 64,
    units: int = 128,
    max_tags: int = 5,
    epochs: int = 20,
    batch_size: int = 32,
    learning_rate: float = 3e-3,
    seed: int = 0,
    input_mode: str = "auto",
    strategy=None,
    checkpoint_dir=None,
    callbacks=(),
    verbose: int = 0,
) -> tuple[CNNRNNTagger, dict]:
    """Build, compile and fit a `CNNRNNTagger` (seeded) on pooled image features.

    Args:
        train_posts, val_posts: the frozen split's parts.
        tags: the tag vocabulary, most frequent first (the sequence order).
        image, val_image: (n, image_dim) pooled image features of those posts, in their row
            order, or `CachedFeatures` covering them by id (`open_features`: only the pooled
            vectors are read, never the grid; `val_image` defaults to `image`).
        input_mode, strategy, checkpoint_dir, callbacks: see `fit_classifier` (input_mode
            "auto": the pooled vectors in memory when they fit).

    Returns:
        `(model, info)` from `fit_classifier`.
    """
    keras.utils.set_random_seed(seed)
    if isinstance(image, CachedFeatures) and val_image is None:
        val_image = image

    def inputs(posts, features):  # (sources, ids, arrays, targets) of feature_dataset
        tags_in, tags_out = tag_sequences(posts, tags, max_tags)
        ids = [p.id for p in posts]
        if isinstance(features, CachedFeatures):
            return {"image": (features, "pooled")}, ids, {"tags_in": tags_in}, tags_out
        return {}, ids, {"image": np.asarray(features, np.float32), "tags_in": tags_in}, tags_out

    val = inputs(val_posts, val_image) if val_image is not None and len(val_posts) else None
    return fit_classifier(
        lambda: compile_cnn_rnn(CNNRNNTagger(len(tags), joint_dim, units), learning_rate),
        inputs(train_posts, image), val, epochs=epochs, checkpoint_dir=checkpoint_dir,
        callbacks=callbacks, verbose=verbose, strategy=strategy, input_mode=input_mode,
        batch_size=batch_size,
        learning_rate=learning_rate, seed=seed, max_tags=max_tags,
    )  # fmt: skip
