"""Caption and paragraph data for the caption decoder (notebook 04): tokenizer, datasets, training.

- `CaptionTokenizer`: lower-case word tokens with `<start>` / `<end>`, a `min_count` threshold
  (`<unk>` below it), and sentence ends (`.`) as tokens for paragraphs.
- `build_caption_data`: each image's grid features ((R, C) regions) paired with its reference
  captions or paragraph; posts without a readable image or references are skipped and counted.
  Grids from the feature cache are held in memory when they fit a budget, else streamed.
- `CaptionBatches` / `streamed_caption_batches`: teacher-forcing batches (grid, tokens[:-1]) ->
  tokens[1:], in memory or through `tf.data` from the cache's shards.
- `train_caption_model`: Adam on a padding-masked cross-entropy, early stopping on val, epoch
  checkpoints and an exact resume.
- `split_posts` for datasets with no frozen split (COCO-mini in notebook 04).

Example:
    >>> tok = CaptionTokenizer.fit(["a dog on the grass", "a dog runs"], min_count=2)
    >>> tok.decode(tok.encode("a dog sleeps"))
    'a dog <unk>'
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from hashtag_kit.data.posts import Post
from hashtag_kit.evaluation.captions import score_systems
from hashtag_kit.features.cache import CachedFeatures
from hashtag_kit.features.stream import MEMORY_BUDGET, choose_mode, epoch_seed, feature_dataset
from hashtag_kit.models.caption_decoder import generate_captions
from hashtag_kit.report import RunReport
from hashtag_kit.training.checkpoints import training_key
from hashtag_kit.training.fit import epochs_dataset, fit, get_strategy
from hashtag_kit.vocabulary import END, N_SPECIAL, PAD, SPECIAL_TOKENS, START, UNK, Vocabulary

_WORD_RE = re.compile(r"[^\W_]+(?:['-][^\W_]+)*|\.", re.UNICODE)


def caption_words(text: str | None, keep_periods: bool = False) -> list[str]:
    """Lower-case word tokens of a caption; `.`, `!` and `?` become `.` when `keep_periods`.

    Example:
        >>> caption_words("A red boat. The sea!", keep_periods=True)
        ['a', 'red', 'boat', '.', 'the', 'sea', '.']
    """
    text = (text or "").lower().replace("!", ".").replace("?", ".")
    words = _WORD_RE.findall(text)
    if not keep_periods:
        return [w for w in words if w != "."]
    out: list[str] = []
    for w in words:  # collapse runs of sentence ends, never start with one
        if w != "." or (out and out[-1] != "."):
            out.append(w)
    return out


class CaptionTokenizer(Vocabulary):
    """Caption words as a `Vocabulary` (ids 0-3 `<pad>`, `<start>`, `<end>`, `<unk>`), with a
    minimum-count threshold and, for paragraphs, sentence ends (`.`) as tokens.

    Args:
        tokens: the vocabulary in id order, special tokens first.
        min_count: the threshold used when fitting (kept for the record).
        keep_periods: whether sentence ends are tokens (paragraphs).
    """

    def __init__(self, tokens: Sequence[str], min_count: int = 1, keep_periods: bool = False):
        super().__init__(tokens)
        self.min_count = int(min_count)
        self.keep_periods = bool(keep_periods)

    @classmethod
    def fit(
        cls,
        texts: Iterable[str],
        min_count: int = 2,
        max_words: int | None = None,
        keep_periods: bool = False,
    ) -> CaptionTokenizer:
        """Vocabulary of the words seen at least `min_count` times, most frequent first;
        `max_words` counts the special tokens."""
        words = (w for t in texts for w in caption_words(t, keep_periods))
        size = None if max_words is None else max(0, max_words - N_SPECIAL)
        tokens = Vocabulary.fit(words, min_count, size).tokens
        return cls(tokens, min_count=min_count, keep_periods=keep_periods)

    @property
    def vocab_size(self) -> int:
        return self.size

    def encode(self, text: str, max_length: int | None = None) -> list[int]:
        """`[<start>, w1, ..., <end>]`; with `max_length`, at most that many tokens after start
        (the words are cut, `<end>` is kept)."""
        ids = [self.id(w) for w in caption_words(text, self.keep_periods)]
        if max_length is not None:
            ids = ids[: max_length - 1]
        return [START, *ids, END]

    def decode(self, ids: Sequence[int]) -> str:
        """Words up to the first `<end>`, skipping `<start>` and padding."""
        out = []
        for i in ids:
            i = int(i)
            if i == END:
                break
            if i in (PAD, START):
                continue
            out.append(self.tokens[i] if 0 <= i < len(self.tokens) else SPECIAL_TOKENS[UNK])
        text = " ".join(out)
        return text.replace(" .", ".") if self.keep_periods else text

    def to_dict(self) -> dict:
        return {**super().to_dict(), "min_count": self.min_count, "keep_periods": self.keep_periods}


def references_of(post: Post, task: str = "caption") -> list[str]:
    """A post's non-empty reference texts: its captions, or its paragraph as one reference."""
    if task == "caption":
        return [c for c in post.captions if c and c.strip()]
    if task == "paragraph":
        return [post.paragraph] if post.paragraph and post.paragraph.strip() else []
    raise ValueError(f"task must be 'caption' or 'paragraph', got {task!r}")


@dataclass
class CaptionData:
    """Images with grid features and their tokenised references, ready for teacher forcing.

    Attributes:
        ids: post ids, one per image.
        grid: (n_images, regions, channels) float16 image grid features (float32 once
            `pooled`), or None when they are streamed from `features` (`streamed`).
        references: {post id: [reference text, ...]} (raw, for scoring).
        images: {post id: image path or None} (for figures).
        pair_image: (n_pairs,) int row of `grid` (index in `ids`) for each (image, reference) pair.
        pair_tokens: (n_pairs, max_length + 1) int32 `[<start>, ..., <end>, 0, ...]`.
        task: "caption" or "paragraph".
        features: the feature cache the grids are streamed from (`CachedFeatures`), or None.
    """

    ids: list[str]
    grid: np.ndarray | None
    references: dict[str, list[str]]
    images: dict[str, str | None]
    pair_image: np.ndarray
    pair_tokens: np.ndarray
    task: str = "caption"
    features: CachedFeatures | None = None

    @property
    def max_length(self) -> int:
        return int(self.pair_tokens.shape[1] - 1)

    @property
    def streamed(self) -> bool:
        """True when training reads the grids from the cache's shards (`grid` is None)."""
        return self.grid is None

    @property
    def grid_shape(self) -> tuple[int, int]:
        """(regions, channels) of one image's grid."""
        return self.features.grid_shape if self.streamed else tuple(self.grid.shape[1:])

    def image_grids(self) -> np.ndarray:
        """(n_images, regions, channels) grids (float16; float32 once `pooled`) in `ids` order,
        streamed data read from the cache now (for decoding an evaluated part)."""
        return self._grids(0, len(self.ids))

    def pooled(self, chunk: int = 512) -> CaptionData:
        """The same images and pairs with each grid averaged over its regions: `grid` (n_images,
        1, channels) float32, in memory, for a model that reads only that mean
        (`MergeCaptionModel`). Streamed grids are read once, `chunk` images at a time."""
        means = [
            np.mean(np.asarray(self._grids(s, s + chunk), dtype="float32"), axis=1, keepdims=True)
            for s in range(0, len(self.ids), chunk)
        ]
        grid = np.concatenate(means) if means else np.zeros((0, 1, self.grid_shape[1]), "float32")
        return replace(self, grid=grid, features=None)

    def _grids(self, start: int, stop: int) -> np.ndarray:
        if self.streamed:
            return self.features.load(self.ids[start:stop], grid=True).grid
        return self.grid[start:stop]

    def __len__(self) -> int:
        return len(self.ids)


def build_caption_data(
    posts: Sequence[Post],
    features,
    tokenizer: CaptionTokenizer,
    *,
    task: str = "caption",
    max_length: int = 20,
    report: RunReport | None = None,
    input_mode: str = "auto",
    budget: int = MEMORY_BUDGET,
) -> CaptionData:
    """Pair each image's grid features with its references (captions or paragraph).

    Args:
        posts: posts with images and `captions` (task "caption") or `paragraph` ("paragraph").
        features: the posts' image features with grids (`extract_features(..., grid=True)`):
            `CachedFeatures` (`open_features`, or `extract_features(..., load=False)`: nothing
            read yet), or a `FeatureSet` whose `grid` (N, R, C) is already in memory.
        tokenizer: fitted on the training references.
        task: "caption" or "paragraph".
        max_length: maximum tokens after `<start>` (longer references are cut, counted as
            repaired "reference_truncated").
        report: counts posts skipped ("no_image", "unreadable_image", "no_features",
            "no_references") and empty captions dropped ("empty_caption").
        input_mode: for `CachedFeatures`, "auto" reads the kept images' grids into memory
            when they take at most `budget` bytes and else leaves them in the shards (training
            streams them), logged (`features.stream.choose_mode`); "memory" / "stream" force
            it. Only grids are kept (the captioners read nothing else).
    """
    report = report if report is not None else RunReport()
    cached = isinstance(features, CachedFeatures)
    has_grid = bool(features.grid) if cached else getattr(features, "grid", None) is not None
    if not has_grid:
        raise ValueError(
            "the image features have no grid (regions): extract them with "
            "hashtag_kit.features.cache.extract_features(run_dir, posts, 'image', grid=True)"
        )
    row_of = {str(i): r for r, i in enumerate(features.ids)}
    mask = features.locate(grid=True)[1] >= 0 if cached else features.mask  # grid present
    ids, rows, refs, images, pair_image, pair_tokens = [], [], {}, {}, [], []
    for p in posts:
        if not p.has_image:
            report.skip("no_image", p.id, "post has no image to describe")
            continue
        if p.id not in row_of:
            report.skip("no_features", p.id, "no cached features for this post")
            continue
        r = row_of[p.id]
        if not bool(mask[r]):
            report.skip("unreadable_image", f"{p.id} ({p.image})", "image missing or unreadable")
            continue
        if task == "caption":
            n_empty = sum(1 for c in p.captions if not (c and c.strip()))
            if n_empty:
                report.note("empty_caption", p.id, f"{n_empty} empty reference caption(s) dropped")
        texts = references_of(p, task)
        if not texts:
            report.skip("no_references", p.id, f"no reference {task}")
            continue
        ids.append(p.id)
        rows.append(r)
        refs[p.id] = texts
        images[p.id] = p.image
        for t in texts:
            toks = tokenizer.encode(t)
            if len(toks) - 1 > max_length:
                report.note(
                    "reference_truncated",
                    p.id,
                    f"{len(toks) - 2} words + <end> > {max_length} tokens",
                )
                toks = tokenizer.encode(t, max_length)
            pair_image.append(len(ids) - 1)
            pair_tokens.append(toks + [PAD] * (max_length + 1 - len(toks)))
    if cached:
        mode = choose_mode({"grid": (features, "grid")}, len(ids), input_mode, budget)
        grid = features.load(ids, grid=True).grid if mode == "memory" else None
    else:
        grid = np.asarray(features.grid[rows] if rows else features.grid[:0])
    return CaptionData(
        ids=ids,
        grid=grid,
        references=refs,
        images=images,
        pair_image=np.asarray(pair_image, dtype="int64"),
        pair_tokens=np.asarray(pair_tokens, dtype="int32").reshape(-1, max_length + 1),
        task=task,
        features=features if grid is None else None,
    )


class CaptionBatches(keras.utils.PyDataset):
    """Teacher-forcing batches: inputs `[grid (B,R,C) float32, tokens (B,T) int32]`, targets
    `(B,T)` = the tokens shifted by one (0 = padding, ignored by the loss).

    Batches hold references of similar length (`bucket`, on by default when shuffling): the
    shuffled pairs are sorted by length within windows of `BUCKET_WINDOW` batches, cut into
    batches, and the batches are shuffled. Each batch is cut to its longest reference (the loss
    ignores padding, so no loss value changes). Epoch `e`'s order is seeded by `(seed, e)`
    alone, so a resumed training sees the batches an uninterrupted one would.
    """

    BUCKET_WINDOW = 32

    def __init__(
        self,
        data: CaptionData,
        batch_size: int = 64,
        shuffle: bool = True,
        seed=0,
        epoch=0,
        bucket: bool | None = None,
    ):
        super().__init__()
        if len(data.pair_tokens) == 0:
            raise ValueError("no (image, reference) pairs to train on")
        self.data, self.batch_size, self.shuffle = data, int(batch_size), shuffle
        self.bucket = shuffle if bucket is None else bool(bucket)
        self.seed, self.epoch = int(seed), int(epoch)
        self.lengths = (data.pair_tokens != 0).sum(axis=1)  # <start> ... <end>
        self.batches = self._batches()

    def _batches(self) -> list[np.ndarray]:
        n, b = len(self.data.pair_tokens), self.batch_size
        if not self.shuffle:  # in row order, or by length
            rows = np.argsort(self.lengths, kind="stable") if self.bucket else np.arange(n)
            return [rows[i : i + b] for i in range(0, n, b)]
        rng = np.random.default_rng([self.seed, self.epoch])
        order = rng.permutation(n)
        if not self.bucket:
            return [order[i : i + b] for i in range(0, n, b)]
        window = b * self.BUCKET_WINDOW
        batches = []
        for w in range(0, n, window):
            chunk = order[w : w + window]
            chunk = chunk[np.argsort(self.lengths[chunk], kind="stable")]
            batches += [chunk[i : i + b] for i in range(0, len(chunk), b)]
        return [batches[i] for i in rng.permutation(len(batches))]

    @property
    def order(self) -> np.ndarray:
        """Every pair's row, in the order the epoch reads them."""
        return np.concatenate(self.batches)

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, idx: int):
        sel = self.batches[idx]
        longest = int(self.lengths[sel].max())
        tokens = self.data.pair_tokens[sel, :longest]
        grid = self.data.grid[self.data.pair_image[sel]].astype("float32")
        return (grid, tokens[:, :-1]), tokens[:, 1:]

    def on_epoch_end(self) -> None:
        self.epoch += 1
        self.batches = self._batches()

    @property
    def signature(self):
        """The `tf.TensorSpec`s of a batch: its size and caption length are left open (one
        trace for every length; Keras's own adapter would fix the shapes of its first batches)."""
        regions, channels = self.data.grid.shape[1:]
        tokens = tf.TensorSpec((None, None), tf.int32)
        return (tf.TensorSpec((None, regions, channels), tf.float32), tokens), tokens

    def as_dataset(self):
        """The batches as a `tf.data.Dataset` (`hashtag_kit.training.fit.epochs_dataset`)."""
        return epochs_dataset(lambda _: self, 0, 1)


STREAM_WINDOW = 8  # batches of a streamed epoch sorted by caption length together


def streamed_caption_batches(
    data: CaptionData, batch_size: int = 64, shuffle: bool = True, seed=0, epoch=0
) -> tf.data.Dataset:
    """`CaptionBatches`' inputs and targets, streamed from the cache's shards (`data.streamed`).

    `features.stream.feature_dataset` reads the pairs' grids (float16, cast here) with their
    tokens in shard order, shuffled (when `shuffle`) by `(seed, epoch)` alone, so a resumed
    training reads the batches an uninterrupted one would. Length bucketing works per window
    of `STREAM_WINDOW` batches: the window's pairs are sorted by length, cut into batches (each
    cut to its longest reference), shuffled within the window. Every pair comes once per epoch,
    in `ceil(n_pairs / batch_size)` batches; memory never holds the part's grids.
    """
    if len(data.pair_tokens) == 0:
        raise ValueError("no (image, reference) pairs to train on")
    b = int(batch_size)
    _, shard, row = data.features.locate(data.ids, grid=True)
    order = np.lexsort((row[data.pair_image], shard[data.pair_image]))  # by shard, then row
    ids = [data.ids[i] for i in data.pair_image[order]]
    tokens = data.pair_tokens[order]
    seed_of_epoch = epoch_seed(seed, epoch)
    windows = feature_dataset(
        {"grid": (data.features, "grid")},
        ids,
        {"tokens": tokens},
        batch_size=b * STREAM_WINDOW,
        shuffle=shuffle,
        seed=seed_of_epoch,
    )

    def batches(w, x):
        grid, tokens = x["grid"], x["tokens"]
        lengths = tf.reduce_sum(tf.cast(tokens != 0, tf.int32), axis=1)  # <start> ... <end>
        by_length = tf.argsort(lengths, stable=True)
        n = (tf.shape(tokens)[0] + b - 1) // b
        starts = tf.range(n) * b
        if shuffle:
            draw = tf.random.stateless_uniform([n], tf.stack([seed_of_epoch, tf.cast(w, tf.int32)]))
            starts = tf.gather(starts, tf.argsort(draw))

        def batch(start):
            sel = by_length[start : start + b]
            t = tf.gather(tokens, sel)[:, : tf.reduce_max(tf.gather(lengths, sel))]
            return (tf.cast(tf.gather(grid, sel), tf.float32), t[:, :-1]), t[:, 1:]

        return tf.data.Dataset.from_tensor_slices(starts).map(batch)

    steps = -(-len(ids) // b)
    ds = windows.enumerate().flat_map(batches)
    return ds.apply(tf.data.experimental.assert_cardinality(steps))


def caption_batches(data: CaptionData, batch_size: int = 64, shuffle=True, seed=0, epoch=0):
    """An epoch's teacher-forcing batches, by length: `CaptionBatches` when the grids are in
    memory, else `streamed_caption_batches` (a `tf.data.Dataset`)."""
    if data.streamed:
        return streamed_caption_batches(data, batch_size, shuffle, seed, epoch)
    return CaptionBatches(data, batch_size, shuffle, seed, epoch, bucket=True)


def caption_loss() -> keras.losses.Loss:
    """Cross-entropy over the vocabulary that ignores padding positions (id 0)."""
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=0)


class DevBleu:
    """BLEU-4 of a caption model's decoded captions for `data`'s images against their
    references: the score Xu et al. (2015) early-stop on. Pass it as `train_caption_model(...,
    monitor=DevBleu(val, tokenizer, beam_width=3))`: after each epoch the val images are decoded
    and scored with `pycocoevalcap`'s BLEU; the best epoch has the highest BLEU-4, recorded in
    the history as "val_bleu4".

    Args:
        data: the images to decode and their references (e.g. the dev part).
        tokenizer: the captions' `CaptionTokenizer`.
        **decode: `generate_captions` keywords: `beam_width`, `max_length`, `length_penalty`.
    """

    name = "bleu4"

    def __init__(self, data: CaptionData, tokenizer: CaptionTokenizer, **decode):
        self.data, self.tokenizer, self.decode = data, tokenizer, decode
        self._grids = None

    def __call__(self, model: keras.Model) -> float:
        if self._grids is None:  # read once (streamed data: from the cache), on first use
            self._grids = self.data.image_grids()
        texts, _ = generate_captions(model, self._grids, self.tokenizer, **self.decode)
        captions = dict(zip(self.data.ids, texts, strict=True))
        scores = score_systems(self.data.references, {"model": captions}, meteor=False)
        return float(scores["model"]["bleu4"])

    def get_config(self) -> dict:
        """What the score depends on besides the model (part of a checkpoint's key)."""
        return {"score": self.name, "images": len(self.data), **self.decode}


def train_caption_model(
    model: keras.Model | Callable[[], keras.Model],
    train: CaptionData,
    val: CaptionData | None = None,
    *,
    epochs: int = 10,
    batch_size: int = 64,
    learning_rate: float = 2e-3,
    seed: int = 0,
    patience: int | None = None,
    lr_decay: float | None = None,
    checkpoint_dir: str | Path | None = None,
    keep_checkpoint: bool = False,
    strategy=None,
    monitor: DevBleu | None = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    verbose: int = 0,
) -> dict:
    """Teacher-forcing training with Adam through `hashtag_kit.training.fit`.

    With `val`, the weights of the epoch with the lowest val loss are restored at the end, and
    with `patience` training stops after that many epochs without improvement (early stopping
    on the dev set, as Xu et al. 2015 do). With `lr_decay` (e.g. 0.5), an epoch whose val loss
    is not the best so far sends training back to the best epoch's weights with the learning
    rate multiplied by `lr_decay`. With `checkpoint_dir`, finished epochs are saved (at `fit`'s
    interval) to `<checkpoint_dir>/<model class>-<digest of model, settings and data>/`, and a
    re-run resumes from it and ends where an uninterrupted run would (same batches, dropout
    draws and optimizer state); the folder is removed at the end unless `keep_checkpoint`.
    Streamed data (`CaptionData.streamed`) is read epoch by epoch (`streamed_caption_batches`).
    With `monitor` (e.g. `DevBleu`), the epoch kept, early stopping and `lr_decay` follow that
    score instead of the val loss.

    `model` is a model or a function building one; under a `strategy` other than "none"
    ("mirrored", "multi_worker" or a tf.distribute.Strategy) pass the function: it is built
    inside the strategy's scope (`batch_size` is the global batch).

    Returns:
        {"model": the trained model (the one loaded from the checkpoint when resumed),
         "history": {"loss": [...], "val_loss": [...]}, "ms_per_step": median ms of a step
         after the first epoch, "best_epoch": epoch whose weights were kept (0-based),
         "epochs_run": epochs trained in total, "resumed_from_epoch": 0 for a fresh start,
         "checkpoint_notes": damaged checkpoints skipped on resume}.
    """
    settings = {
        "batch_size": int(batch_size),
        "learning_rate": float(learning_rate),
        "seed": int(seed),
        "patience": patience,
        "lr_decay": lr_decay,
        "val": None if val is None else len(val.pair_tokens),
    }
    if monitor is not None:  # (a key of its own: older checkpoints stay resumable)
        settings["monitor"] = monitor.get_config()
    # the images: their grids' 1st regions, or the streamed grids' content keys
    images = train.features.keys_of(train.ids) if train.streamed else train.grid[:, :1]
    data = (train.ids, train.pair_tokens, train.pair_image, images)
    strategy = get_strategy(strategy)
    with strategy.scope():
        model = model if isinstance(model, keras.Model) else model()
        folder, key = training_key(checkpoint_dir, model, settings, *data)
        keras.utils.set_random_seed(seed)
        if not model.compiled:
            model.compile(
                optimizer=keras.optimizers.Adam(learning_rate, clipnorm=5.0), loss=caption_loss()
            )
    val_batches = None if val is None else caption_batches(val, batch_size, shuffle=False)
    if isinstance(val_batches, CaptionBatches):
        val_batches = val_batches.as_dataset()
    result = fit(
        model,
        lambda epoch: caption_batches(train, batch_size, shuffle=True, seed=seed, epoch=epoch),
        val_batches,
        epochs=epochs,
        patience=patience,
        lr_decay=lr_decay,
        checkpoint_dir=folder,
        keep_checkpoint=keep_checkpoint,
        key=key,
        strategy=strategy,
        monitor=monitor,
        callbacks=callbacks,
        verbose=verbose,
    )
    return {**vars(result), "epochs_run": result.epochs_run}


def split_posts(
    posts: Sequence[Post], seed: int = 0, val: float = 0.1, test: float = 0.2
) -> dict[str, list[Post]]:
    """Seeded random train/val/test parts for data with no frozen split (e.g. COCO-mini)."""
    order = np.random.default_rng(seed).permutation(len(posts))
    n_test, n_val = int(round(test * len(posts))), int(round(val * len(posts)))
    parts = {
        "test": order[:n_test],
        "val": order[n_test : n_test + n_val],
        "train": order[n_test + n_val :],
    }
    return {k: [posts[i] for i in sorted(v)] for k, v in parts.items()}


def run_caption_parts(rd) -> tuple[dict[str, list[Post]], str, str]:
    """(parts, split name, dataset name) for captioning a run's own posts (notebook 01's data).

    The split is the release's own ("official": Flickr8k's image lists, Stanford paragraphs'
    split files, as the published caption figures use) when notebook 01 recorded one, else the
    run's frozen random split. Raises `ValueError` naming the run and its dataset when no
    training post has both an image and reference captions (`require_captioned`).

    Args:
        rd: a `hashtag_kit.run.RunDir` that notebook 01 has written.
    """
    splits = rd.load_splits()
    split = "official" if "official" in splits else "random"
    parts = rd.split_posts(split)
    dataset = rd.meta().get("dataset") or "embedded"
    require_captioned(parts["train"], f"{rd.path} (dataset {dataset!r}, {split} split)")
    return parts, split, dataset


def require_captioned(posts: Sequence[Post], where: str) -> Post:
    """The first post with an image and reference captions, or a `ValueError` naming `where`
    (a hashtag-only dataset such as HARRISON or the tweets has nothing to caption)."""
    for p in posts:
        if p.has_image and p.captions:
            return p
    raise ValueError(
        f"{where}: no training post has both an image and reference captions; notebook 04 "
        "trains on captioned images (the embedded data, COCO, or Flickr8k / Stanford "
        "paragraphs with their images)"
    )


def most_frequent_reference(data: CaptionData) -> str:
    """The training set's most frequent reference text (ties: first seen): the trivial baseline
    that says the same caption for every image."""
    counts: Counter = Counter()
    first: dict[str, str] = {}
    for refs in data.references.values():
        for t in refs:
            words = " ".join(caption_words(t, True))
            counts[words] += 1
            first.setdefault(words, t)
    return first[max(counts, key=counts.get)]


def count_repeated_trigrams(text: str) -> int:
    """How many trigrams of a text repeat an earlier trigram (0 = no repetition)."""
    words = caption_words(text, keep_periods=True)
    trigrams = [tuple(words[i : i + 3]) for i in range(len(words) - 2)]
    return len(trigrams) - len(set(trigrams))
