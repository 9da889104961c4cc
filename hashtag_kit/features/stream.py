"""Cached features streamed shard by shard through `tf.data`, for `model.fit` on any number
of posts.

`feature_dataset(sources, ids, ...)` reads the feature cache's shards (`CachedFeatures` from
`open_features` or `extract_features(..., load=False)`) for a list of posts. A *source* names
one model input and where it comes from: `(features, "pooled" | "grid" | "mask")`; the grid is
read only when a source asks for it. Posts are read in blocks (the posts of one shard, in the
order of `ids`, at most `MAX_BLOCK` posts or `BLOCK_BYTES`), `READERS` at a time; when
shuffling, the blocks come in a new random order each epoch and are read `CYCLE` at a time into
a window whose posts are permuted in numpy (cheaper than tf.data's per-post `shuffle`); then
`rebatch` cuts batches. The buffers have fixed sizes (`READERS`, `CYCLE`, `BLOCK_BYTES`,
`PREFETCH`), not AUTOTUNE: peak memory does not grow with the number of posts.

Per-post inputs that are not cached features (tag ids, user histories, caption tokens) and the
targets are given by the caller: a small `(N, ...)` array aligned with `ids`, or a function of
the posts' positions in `ids` (e.g. building multi-hot targets block by block).

`load_inputs` is the in-memory counterpart; `choose_mode` chooses between the two by size and
logs why, and `fit_inputs` returns the keyword arguments of `model.fit` for the choice.

Example:
    >>> from hashtag_kit.features.cache import open_features
    >>> img, txt = open_features(run, "image"), open_features(run, "text")
    >>> sources = {"image": (img, "pooled"), "image_mask": (img, "mask"),
    ...            "text": (txt, "pooled"), "text_mask": (txt, "mask")}
    >>> ds = feature_dataset(sources, ids, {"history": hist, "decoder_in": dec}, tags,
    ...                      batch_size=64, shuffle=True, seed=0)  # doctest: +SKIP
    >>> model.fit(ds, epochs=5)  # doctest: +SKIP
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import tensorflow as tf

from hashtag_kit.features import cache
from hashtag_kit.features.cache import CachedFeatures

log = logging.getLogger("hashtag_kit.encoders")

FIELDS = ("pooled", "grid", "mask")
CYCLE = 4  # blocks (shards) whose posts are mixed in one window when shuffling
READERS = 2  # blocks read in parallel
PREFETCH = 2  # batches ready ahead of the training step
MAX_BLOCK = 512  # posts read at once (a shard's posts in `ids`, or a run of posts without)
BLOCK_BYTES = 32 * 1024**2  # ... and at most this many bytes of features (grids: 256 posts)
POOLED_SHARDS = 16  # pooled-only shards kept decoded (a few MB): secondary sources re-use them
MEMORY_BUDGET = 2 * 1024**3  # bytes of features `fit_inputs` keeps in memory ("auto")

Source = tuple[CachedFeatures, str]
Targets = np.ndarray | Callable[[np.ndarray], np.ndarray] | None


def _spec(features: CachedFeatures, field: str) -> tuple[tuple, str]:
    """(shape of one post's value, dtype) of a source."""
    if field not in FIELDS:
        raise ValueError(f"a source's field must be one of {FIELDS}, not {field!r}")
    if field == "grid":
        if not features.grid:
            raise ValueError(
                f"{features.store.path}: no grids were extracted; extract with grid=True "
                "(`python -m hashtag_kit features RUN --grid`)"
            )
        return features.grid_shape, "float16"
    return ((features.dim,), "float32") if field == "pooled" else ((), "float32")


def epoch_seed(seed: int, epoch: int) -> int:
    """The stream's shuffling seed of one epoch of a training seeded by `seed` (an epoch's
    dataset depends on `(seed, epoch)` alone, so a resumed training reads the same batches)."""
    return int(np.random.default_rng([int(seed), int(epoch)]).integers(2**31 - 1))


def bytes_per_post(sources: Mapping[str, Source]) -> int:
    """Bytes one post's cached features take in memory (float16 grid, float32 vectors)."""
    return sum(
        int(np.prod(shape)) * np.dtype(dt).itemsize
        for shape, dt in (_spec(f, field) for f, field in sources.values())
    )


class _Blocks:
    """Reads the sources' values of a block of posts (numpy, in `tf.numpy_function`)."""

    def __init__(self, sources, ids, arrays, targets) -> None:
        self.names = list(sources)
        self.specs = [_spec(f, field) for f, field in sources.values()]
        self.fields = [field for _, field in sources.values()]
        n = len(ids)
        # per source: (shard paths, shard per post, row per post)
        self.where = [f.locate(ids, grid=field == "grid") for f, field in sources.values()]
        self.arrays = {k: v if callable(v) else np.asarray(v) for k, v in (arrays or {}).items()}
        for k, v in self.arrays.items():
            if not callable(v) and len(v) != n:
                raise ValueError(f"array {k!r} has {len(v)} rows for {n} posts")
        self.targets = targets
        if targets is not None and not callable(targets) and len(targets) != n:
            raise ValueError(f"targets have {len(targets)} rows for {n} posts")
        # blocks: runs of posts whose primary source (the grid if any) sits in one shard
        primary = self.fields.index("grid") if "grid" in self.fields else 0
        shard = self.where[primary][1] if self.where else np.zeros(n, np.int64)
        # a post without features (-1) does not end its block: it reads nothing
        filled = np.maximum.accumulate(np.where(shard >= 0, np.arange(n), 0)) if n else shard
        shard = np.where(shard >= 0, shard, shard[filled]) if n else shard
        cuts = [0, *(np.flatnonzero(np.diff(shard)) + 1).tolist(), n]
        size = max(1, min(MAX_BLOCK, BLOCK_BYTES // max(1, bytes_per_post(sources))))
        self.blocks = []
        for a, b in zip(cuts[:-1], cuts[1:], strict=True):
            self.blocks += [(s, min(s + size, b)) for s in range(a, b, size)]
        # pooled-only reads are kept in a small LRU (a secondary source's shard serves several
        # blocks); grids are read for each block
        self._pooled = functools.lru_cache(POOLED_SHARDS)(lambda p: cache.read_shard(p, False)[1])

    def read(self, b: int) -> list[np.ndarray]:
        """The values of block `b`: one array per source, then the arrays, then the targets."""
        pos = np.arange(*self.blocks[int(b)])
        out = []
        for (paths, shard, row), field, (shape, dt) in zip(
            self.where, self.fields, self.specs, strict=True
        ):
            s, r = shard[pos], row[pos]
            if field == "mask":
                out.append((s >= 0).astype(dt))
                continue
            value = np.zeros((len(pos), *shape), dt)
            for k in np.unique(s[s >= 0]):
                sel = s == k
                if field == "grid":
                    src = cache.read_shard(paths[k], True)[2]
                else:
                    src = self._pooled(paths[k])
                value[sel] = src[r[sel]].reshape(-1, *shape)
            out.append(value)
        values = [*self.arrays.values(), *([self.targets] if self.targets is not None else [])]
        return out + [np.asarray(v(pos) if callable(v) else v[pos]) for v in values]

    def read_window(self, blocks: np.ndarray, seed: int) -> list[np.ndarray]:
        """The values of several blocks, their posts permuted together by `seed`."""
        parts = [self.read(b) for b in blocks]
        order = np.random.default_rng(int(seed) & 0xFFFFFFFF).permutation(
            sum(len(p[0]) for p in parts)
        )
        return [np.concatenate(values)[order] for values in zip(*parts, strict=True)]


def feature_dataset(
    sources: Mapping[str, Source],
    ids: Sequence[str],
    arrays: Mapping[str, np.ndarray] | None = None,
    targets: Targets = None,
    *,
    batch_size: int = 32,
    shuffle: bool = False,
    seed: int = 0,
    cycle: int = CYCLE,
    drop_remainder: bool = False,
) -> tf.data.Dataset:
    """A `tf.data.Dataset` of `(x, y)` batches (`x` alone without targets) streamed from shards.

    Args:
        sources: input name -> `(CachedFeatures, field)`; field "pooled" gives float32
            `(batch, D)`, "grid" float16 `(batch, R, C)` (models cast it), "mask" float32
            `(batch,)` (1 = the post has the features; absent posts get zero features).
        ids: the posts, e.g. a split's ids; without shuffling, batches follow this order.
        arrays: input name -> per-post array `(N, ...)` aligned with `ids` (small inputs), or
            a function of an int64 array of positions in `ids` returning their rows (called
            once per block: e.g. inputs built per epoch, or too large to hold).
        targets: the same for the targets (an array or a function of positions), or None.
        batch_size: posts per batch.
        shuffle: blocks in a random order, read `cycle` at a time into a window whose posts
            are permuted; a new order every epoch (each pass over the dataset), the same
            orders for the same `seed`. Every post comes exactly once per epoch.
        cycle: see `shuffle`; memory holds about `READERS + 1` windows of `cycle` blocks.
        drop_remainder: drop the last, smaller batch.

    Returns:
        A dataset with a known number of batches, for `model.fit` / `model.predict`.
    """
    blocks = _Blocks(sources, ids, arrays, targets)
    names = [*blocks.names, *blocks.arrays]
    n_x = len(names)
    specs = [(dt, shape) for shape, dt in blocks.specs]
    for v in [*blocks.arrays.values(), *([targets] if targets is not None else [])]:
        first = np.asarray(v(np.arange(1)) if callable(v) else v[:1])
        specs.append((first.dtype, first.shape[1:]))
    dtypes = [tf.as_dtype(dt) for dt, _ in specs]

    def map_fn(read):
        """`read` (numpy, run by `tf.numpy_function`) as a map function giving `(x, y)` or `x`."""

        def fn(*args):
            outs = tf.numpy_function(read, list(args), dtypes, stateful=False)
            outs = [tf.ensure_shape(o, (None, *s)) for o, (_, s) in zip(outs, specs, strict=True)]
            x = dict(zip(names, outs[:n_x], strict=True))
            return (x, outs[n_x]) if len(outs) > n_x else x

        return fn

    ds = tf.data.Dataset.range(len(blocks.blocks))
    if shuffle:  # a new block order and new windows each pass; posts mixed within a window
        ds = ds.shuffle(max(1, len(blocks.blocks)), seed=seed, reshuffle_each_iteration=True)
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
        ds = tf.data.Dataset.zip(ds.batch(cycle), seeds)
        ds = ds.map(map_fn(blocks.read_window), num_parallel_calls=READERS, deterministic=True)
    else:  # fixed, small buffers: what the pipeline holds is bounded by construction
        ds = ds.map(map_fn(blocks.read), num_parallel_calls=READERS, deterministic=True)
    n = len(ids)
    steps = n // batch_size if drop_remainder else -(-n // batch_size)
    ds = ds.rebatch(batch_size, drop_remainder=drop_remainder).prefetch(PREFETCH)
    return ds.apply(tf.data.experimental.assert_cardinality(steps))


def load_inputs(
    sources: Mapping[str, Source],
    ids: Sequence[str],
    arrays: Mapping[str, np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """The in-memory counterpart of `feature_dataset`'s `x`: one array per source (reading
    only the fields named: a grid is read only when a source asks for it), plus `arrays`."""
    wanted: dict[int, tuple[CachedFeatures, bool]] = {}
    for f, field in sources.values():
        _spec(f, field)
        grid = wanted.get(id(f), (f, False))[1] or field == "grid"
        wanted[id(f)] = (f, grid)
    loaded = {key: f.load(ids, grid=grid) for key, (f, grid) in wanted.items()}
    x = {}
    for name, (f, field) in sources.items():
        fs = loaded[id(f)]
        x[name] = fs.mask.astype("float32") if field == "mask" else getattr(fs, field)
    every = np.arange(len(ids))
    arrays = {k: np.asarray(v(every) if callable(v) else v) for k, v in (arrays or {}).items()}
    return {**x, **arrays}


def choose_mode(
    sources: Mapping[str, Source], n: int, mode: str = "auto", budget: int | None = None
) -> str:
    """Whether the features of `n` posts are held in "memory" or "stream"ed, logged with the
    figures: "auto" holds them when they take at most `budget` bytes (`bytes_per_post`;
    default `MEMORY_BUDGET`)."""
    budget = MEMORY_BUDGET if budget is None else budget
    size = bytes_per_post(sources) * n
    if mode == "auto":
        mode = "memory" if size <= budget else "stream"
    if mode not in ("memory", "stream"):
        raise ValueError(f"mode must be 'auto', 'memory' or 'stream', not {mode!r}")
    how = "streamed from the cache's shards" if mode == "stream" else "held in memory"
    log.info(
        "features of %d posts: %.2f GB (budget %.2f GB) -> %s", n, size / 1e9, budget / 1e9, how
    )
    return mode


def fit_inputs(
    sources: Mapping[str, Source],
    ids: Sequence[str],
    arrays: Mapping[str, np.ndarray] | None = None,
    targets: Targets = None,
    *,
    batch_size: int = 32,
    shuffle: bool = True,
    seed: int = 0,
    mode: str = "auto",
    budget: int | None = None,
) -> dict:
    """Keyword arguments of `model.fit` for these posts, in memory (`load_inputs`: no reading
    during training, faster for small runs) or streamed (`feature_dataset`), as `choose_mode`
    decides from `mode` and `budget`.

    Returns:
        `{"x": dataset}` or `{"x": arrays, "y": targets, "batch_size", "shuffle"}`.
    """
    if choose_mode(sources, len(ids), mode, budget) == "stream":
        ds = feature_dataset(
            sources, ids, arrays, targets, batch_size=batch_size, shuffle=shuffle, seed=seed
        )
        return {"x": ds}
    y = targets(np.arange(len(ids))) if callable(targets) else targets
    x = load_inputs(sources, ids, arrays)
    return {"x": x, "y": y, "batch_size": batch_size, "shuffle": shuffle}
