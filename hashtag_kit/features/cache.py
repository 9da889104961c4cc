"""Feature cache: image and text features computed once per encoder, stored in shards.

`extract_features(run_dir, posts, "image"|"text")` computes what is not cached yet and returns
a `FeatureSet` aligned with the posts; `load_features(run_dir, kind)` reads it back later,
only the rows (and the grid only when) asked. `open_features` and `extract_features(...,
load=False)` return `CachedFeatures`: the features left in their shards, for
`hashtag_kit.features.stream` to stream through `tf.data` (runs larger than memory).

    python -m hashtag_kit features outputs/default --kind both --grid
    python -m hashtag_kit features outputs/default --kind image --shard 0/4   # one worker of 4
    python -m hashtag_kit features outputs/default --kind image --merge       # after all workers

Layout. Features are keyed by content (the blake2b hash of the image file's bytes, or of the
text) inside one store folder per encoder, `<store>/<encoder-id>/shard-*.npz`; the encoder id
names the encoder and the digest of its weights and input protocol, so vectors of different
encoders never mix. The store is `<run_dir>/features/` by default, or a shared folder
(`cache_dir=` or `$HASHTAG_KIT_FEATURE_CACHE`). Each run records which post has which key in
`<run_dir>/features/<encoder-id>/index.json` (plus `report.json`), and the encoder in
`run.json` (hence in every `metrics.json`).

Guarantees:
* resumable: an interrupted extraction keeps every finished shard and recomputes only the
  rest (same chunks in the same order, hence identical features to an uninterrupted run);
* atomic: a shard is written to a temporary file, flushed, then renamed;
* checked: every array of a shard is covered by a CRC-32 (the zip container's, verified on
  each read, plus an explicit one over the key arrays); a corrupt or truncated shard is
  detected, deleted, counted in the report and its features recomputed;
* a changed image file is detected: its size or mtime changed -> re-hashed -> new key;
* missing or unreadable inputs (no image, file not found, corrupt image, empty text, text the
  encoder cannot take) get mask False and zero features and are counted in the `RunReport`
  with post id and file;
* parallel: `shard=(i, n)` computes only the keys with `hash % n == i`; workers may share a
  store; a final call without `shard` (or `--merge`) assembles the index;
* bounded memory: extraction holds one shard's rows (plus the batches in flight) whatever the
  number of posts; only the returned `FeatureSet` grows with it (`load=False` returns none).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import zipfile
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from numpy.lib import format as npy_format

from hashtag_kit.data.posts import Post
from hashtag_kit.encoders.image import get_image_encoder
from hashtag_kit.encoders.text import get_text_encoder
from hashtag_kit.files import atomic_path, sweep_stale_temps
from hashtag_kit.report import RunReport
from hashtag_kit.run import (
    MissingFeaturesError,
    RunDir,
    low_priority_thread,
    read_json,
    write_json,
)

log = logging.getLogger("hashtag_kit.encoders")

KINDS = ("image", "text")
CACHE_ENV = "HASHTAG_KIT_FEATURE_CACHE"
SHARD_SIZE = 256
INDEX_VERSION = 1


# -- the feature set ---------------------------------------------------------------------------
@dataclass
class FeatureSet:
    """Features of a list of posts, one row per post id.

    Args:
        ids: post ids, row order.
        pooled: float32 `(N, D)` pooled vectors; zeros where the modality is missing.
        grid: float16 `(N, R, C)` image regions (R = h*w, e.g. 49 for EfficientNet-Lite0, 64
            for InceptionV3), or None (text, or not extracted).
        mask: bool `(N,)`, True where the modality is present and was read.
        encoder: `{"name", "weights", "digest", "dim", "grid_shape", ...}` of the encoder used.
        cache: what `extract_features` did: `{"store", "computed", "reused"}` (distinct
            inputs computed now / found in the store); empty for sets built otherwise.

    Example:
        >>> fs = FeatureSet(["a", "b"], np.ones((2, 3), "float32"), None,
        ...                 np.array([True, False]), {"name": "toy"})
        >>> fs.take(["b"]).mask.tolist()
        [False]
    """

    ids: list[str]
    pooled: np.ndarray
    grid: np.ndarray | None
    mask: np.ndarray
    encoder: dict = field(default_factory=dict)
    cache: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def dim(self) -> int:
        return int(self.pooled.shape[1])

    def take(self, ids: Sequence[str], grid: bool = True) -> FeatureSet:
        """Rows for `ids`, in that order (KeyError naming ids that have no row); `grid=False`
        leaves the grid out."""
        rows = _rows_of(self.ids, ids)
        g = None if self.grid is None or not grid else self.grid[rows]
        return FeatureSet(list(ids), self.pooled[rows], g, self.mask[rows], dict(self.encoder))


def _rows_of(all_ids: Sequence[str], ids: Sequence[str]) -> np.ndarray:
    """int64 positions of `ids` in `all_ids` (KeyError naming ids that are not there)."""
    pos = {i: n for n, i in enumerate(all_ids)}
    missing = [i for i in ids if i not in pos]
    if missing:
        raise KeyError(
            f"{len(missing)} post ids have no features (e.g. {missing[:5]}); "
            "were they in the manifest features were extracted for?"
        )
    return np.fromiter((pos[i] for i in ids), dtype=np.int64, count=len(ids))


# -- encoders ----------------------------------------------------------------------------------
def get_encoder(kind: str, encoder="auto", weights: str | None = None):
    """An `ImageEncoder`/`TextEncoder` for `kind` from a name (or an encoder object as is).

    Args:
        kind: "image" or "text".
        encoder: a name ("auto", "inception_v3", "use_v4", ...) or an encoder object.
        weights: with a name, where the weights are: an InceptionV3 weight file (`.h5`) for
            images, a USE v4 SavedModel folder or hub handle for texts; None looks them up.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    if not isinstance(encoder, str):
        return encoder
    if kind == "image":
        return get_image_encoder(encoder, weights=weights)
    return get_text_encoder(encoder, weights)


def _content_key(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def _hash_file(path: str) -> str:
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _store_root(run_dir: Path, cache_dir) -> Path:
    cache_dir = os.environ.get(CACHE_ENV) if cache_dir is None else cache_dir
    return Path(cache_dir) if cache_dir else run_dir / "features"


# -- shards ------------------------------------------------------------------------------------
def _crc(a: np.ndarray) -> int:
    return zlib.crc32(np.ascontiguousarray(a).view(np.uint8).ravel()) & 0xFFFFFFFF


class CorruptShardError(ValueError):
    """A shard file failed its checksum or could not be read."""


def write_shard(
    path: Path,
    keys: list[str],
    pooled: np.ndarray,
    grid: np.ndarray | None,
    failed: dict[str, str] | None = None,
) -> Path:
    """Write one shard atomically (temp file, then rename) with crc32 checksums.

    `failed` maps keys of inputs that could not be read to the reason, so that a re-run does
    not decode them again (and still reports them). The file is the `.npz` layout `np.savez`
    writes, without intermediate copies. There is no fsync: a shard a power cut tore fails its
    CRC on reading and is recomputed.
    """
    failed = failed or {}
    arrays = {
        "keys": np.asarray(keys, dtype="S32").reshape(-1),
        "pooled": np.asarray(pooled, "float32"),
        "failed_keys": np.asarray(list(failed), dtype="S32").reshape(-1),
        "failed_reasons": np.asarray([r.encode("utf-8") for r in failed.values()], dtype="S"),
    }
    if grid is not None:
        arrays["grid"] = np.asarray(grid, "float16")
    # the zip container already stores and verifies (on every full read) a CRC-32 per member;
    # the key arrays get a second, explicit one: they decide what a shard claims to hold
    checks = {k: _crc(v) for k, v in arrays.items() if k not in ("pooled", "grid")}
    arrays["checks"] = np.array(json.dumps(checks))
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as z:
        for name, a in arrays.items():  # the layout np.savez writes
            a = a if a.flags.c_contiguous else a.copy()  # (keeps 0-d arrays 0-d)
            with z.open(f"{name}.npy", "w", force_zip64=True) as member:
                npy_format.write_array_header_1_0(member, npy_format.header_data_from_array_1_0(a))
                if a.size:
                    member.write(a.reshape(-1).view(np.uint8))  # no copy of the data
    return path


def _read_checked(path, names: list[str], grid: bool = False) -> tuple[dict, bool]:
    """(the arrays `names`, plus "grid" when `grid` and the shard has one; whether it has one),
    checksums verified."""
    try:
        with np.load(path, allow_pickle=False) as z:
            has_grid = "grid" in z.files
            checks = json.loads(str(z["checks"]))
            arrays = {n: z[n] for n in names + (["grid"] if grid and has_grid else [])}
    except Exception as e:
        raise CorruptShardError(f"{path}: unreadable shard ({type(e).__name__}: {e})") from e
    for n, a in arrays.items():
        if n in checks and checks[n] != _crc(a):
            raise CorruptShardError(f"{path}: checksum mismatch in {n!r}")
    return arrays, has_grid


def read_shard_keys(path: Path) -> tuple[list[str], bool, dict[str, str]]:
    """(keys, has_grid, failed {key: reason}) of a shard; checks only the small arrays."""
    a, has_grid = _read_checked(path, ["keys", "failed_keys", "failed_reasons"])
    failed = {
        k.decode(): r.decode("utf-8", "replace")
        for k, r in zip(a["failed_keys"], a["failed_reasons"], strict=True)
    }
    return [k.decode() for k in a["keys"]], has_grid, failed


def read_shard(path: Path, grid: bool) -> tuple[list[str], np.ndarray, np.ndarray | None]:
    """(keys, pooled, grid or None) of a shard, checksums verified."""
    a, _ = _read_checked(path, ["keys", "pooled"], grid)
    if len(a["pooled"]) != len(a["keys"]):
        raise CorruptShardError(f"{path}: {len(a['keys'])} keys but {len(a['pooled'])} rows")
    return [k.decode() for k in a["keys"]], a["pooled"], a.get("grid")


class _Rows:
    """The arrays `extract_features` returns, one row per key (None -> a zero row).

    The computing functions copy each shard they write into the first row of its keys;
    `ShardStore.gather` then fills only the rows still empty.
    """

    def __init__(self, keys: Sequence[str | None], dim: int, grid_shape, grid: bool) -> None:
        n = len(keys)
        self.pooled = np.zeros((n, dim), "float32")
        self.grid = None
        if grid:
            r = int(np.prod(grid_shape[:-1]))
            self.grid = np.zeros((n, r, int(grid_shape[-1])), "float16")
        self.found = np.zeros(n, bool)
        self.row: dict[str, int] = {}
        for i, k in enumerate(keys):
            if k is not None:
                self.row.setdefault(k, i)

    def put(self, keys: list[str], pooled: np.ndarray, grid: np.ndarray | None, at=None) -> None:
        """Store one batch (network outputs, maybe padded past `len(keys)`) in the keys' rows,
        or in rows `at` (a slice); the float32 grid is cast to float16 while copying."""
        n = len(keys)
        if at is None:
            rows = [self.row[k] for k in keys]
            first = rows[0] if rows else 0
            consecutive = rows == list(range(first, first + n))
            at = slice(first, first + n) if consecutive else rows  # a slice: a view, no copy
        self.pooled[at] = pooled[:n]
        self.found[at] = True
        if grid is not None:
            self.grid[at] = grid[:n].reshape(n, *self.grid.shape[1:])


class ShardStore:
    """The shard folder of one encoder: which key lives in which shard."""

    def __init__(self, path: Path, report: RunReport | None = None, repair: bool = True) -> None:
        self.path = Path(path)
        self.report = report
        self.repair = repair  # delete corrupt shards (extraction) or leave them (reading)
        self._table: dict[str, tuple[Path, bool, int]] | None = None
        self._failed: dict[str, str] = {}

    def table(self) -> dict[str, tuple[Path, bool, int]]:
        """key -> (shard path, shard has grid, row in the shard); corrupt shards are dropped
        and counted."""
        if self._table is None:
            if self.repair:  # temp files of writers killed mid-shard (a full disk, kill -9)
                for p in sweep_stale_temps(self.path):
                    log.info("removed a stale temporary shard file: %s", p)
            table: dict[str, tuple[Path, bool, int]] = {}
            failed: dict[str, str] = {}
            for p in sorted(self.path.glob("shard-*.npz")):
                try:
                    keys, has_grid, bad = read_shard_keys(p)
                except CorruptShardError as e:
                    self.discard(p, str(e))
                    continue
                failed.update(bad)
                for row, k in enumerate(keys):
                    if not (k in table and table[k][1]):  # prefer a shard with the grid
                        table[k] = (p, has_grid, row)
            self._table, self._failed = table, failed
        return self._table

    def failed(self) -> dict[str, str]:
        """key -> reason, for inputs a previous extraction could not read."""
        self.table()
        return self._failed

    def discard(self, path: Path, reason: str) -> None:
        if not self.repair:
            log.warning("corrupt feature shard: %s", reason)
            return
        log.warning("corrupt feature shard removed, its features will be recomputed: %s", reason)
        if self.report is not None:
            self.report.note("corrupt_feature_shard", str(path), reason)
        path.unlink(missing_ok=True)
        self._table = None

    def has(self, key: str, grid: bool) -> bool:
        """Cached (with the grid when asked), or known unreadable."""
        got = self.table().get(key)
        return (got is not None and (got[1] or not grid)) or key in self._failed

    def present(self, keys: Sequence[str | None], grid: bool) -> np.ndarray:
        """bool `(len(keys),)`: cached (with the grid when asked); None -> False."""
        t = self.table()
        return np.fromiter(
            (k in t and (t[k][1] or not grid) for k in keys), dtype=bool, count=len(keys)
        )

    def add(self, keys, pooled, grid, failed=None) -> Path:
        self.path.mkdir(parents=True, exist_ok=True)
        failed = failed or {}
        name = _content_key(
            "\n".join([*keys, "|", *failed]).encode() + (b"|grid" if grid is not None else b"")
        )
        path = write_shard(self.path / f"shard-{name}.npz", keys, pooled, grid, failed)
        if self._table is not None:
            for row, k in enumerate(keys):
                self._table[k] = (path, grid is not None, row)
            self._failed.update(failed)
        return path

    def gather(self, keys: Sequence[str | None], dim: int, grid_shape, grid: bool, out=None):
        """Stack features of `keys` (None -> zeros). Returns (pooled, grid, found mask, bad keys).

        `bad keys` are keys whose shard turned out corrupt (the shard is discarded). `out`: an
        `_Rows` some of whose rows are already filled (by the extraction); only the others
        are read.
        """
        out = out if out is not None else _Rows(keys, dim, grid_shape, grid)
        pooled, g, found = out.pooled, out.grid, out.found
        by_shard: dict[Path, list[int]] = {}
        table = self.table()
        for row, k in enumerate(keys):  # (None is in no table)
            if not found[row] and k in table and (table[k][1] or not grid):
                by_shard.setdefault(table[k][0], []).append(row)
        bad: list[str] = []
        for path, rows in by_shard.items():
            try:
                skeys, spooled, sgrid = read_shard(path, grid)
            except CorruptShardError as e:
                self.discard(path, str(e))
                bad += [keys[r] for r in rows]
                continue
            at = {k: i for i, k in enumerate(skeys)}
            idx = np.array([at[keys[r]] for r in rows])
            if rows[-1] - rows[0] + 1 == len(rows) and np.array_equal(idx, np.arange(len(idx))):
                dst = slice(rows[0], rows[-1] + 1)  # the usual case: same order, one copy
                src = slice(0, len(idx))
            else:
                dst, src = rows, idx
            pooled[dst] = spooled[src]
            if grid:
                g[dst] = sgrid[src].reshape(len(rows), *g.shape[1:])
            found[dst] = True
        return pooled, g, found, bad


# -- planning: which post has which key --------------------------------------------------------
def _plan(posts, kind, old_stat, report) -> tuple[list[str | None], dict, dict]:
    """Content keys per post (None = missing/unreadable input), stat cache, inputs per key."""
    stat: dict[str, list] = {}
    inputs: dict[str, str] = {}  # key -> image path or text

    def key_of(p) -> str | None:
        """The post's content key (its input goes to `inputs`), or None (reported)."""
        if kind == "text":
            if not p.has_text:
                report.skip("missing_text", f"post {p.id}", "no caption text")
                return None
            k = _content_key(p.text.encode("utf-8", "surrogatepass"))
            inputs.setdefault(k, p.text)
            return k
        if not p.has_image:
            report.skip("missing_image", f"post {p.id}", "post has no image")
            return None
        path = str(p.image)
        try:
            st = os.stat(path)
        except OSError as e:
            report.skip("missing_image", f"post {p.id}: {path}", f"file not found ({e.strerror})")
            return None
        prev = old_stat.get(path) or stat.get(path)
        unchanged = prev and prev[0] == st.st_size and prev[1] == st.st_mtime_ns
        k = prev[2] if unchanged else _hash_file(path)
        stat[path] = [st.st_size, st.st_mtime_ns, k]
        inputs.setdefault(k, path)
        return k

    return [key_of(p) for p in posts], stat, inputs


def _in_shard(key: str, shard: tuple[int, int] | None) -> bool:
    return shard is None or int(key[:8], 16) % shard[1] == shard[0]


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """'i/n' -> (i, n) with 0 <= i < n."""
    if text is None:
        return None
    try:
        i, n = (int(x) for x in str(text).split("/"))
    except ValueError as e:
        raise ValueError(f"shard must look like i/n (e.g. 0/4), got {text!r}") from e
    if not 0 <= i < n:
        raise ValueError(f"shard {text!r}: need 0 <= i < n")
    return i, n


# -- computing ---------------------------------------------------------------------------------
#: one decoder: a second one, even at low priority, slowed the network's threads more than it helped
DECODE_THREADS = 1
PREFETCH = 2  # batches decoded ahead of the network


class _BatchDecode:
    """One batch's decoding (read, crop, resize each image; then stack and normalise), which
    the decode thread and the network's thread can share: `work()` claims images one at a
    time until none is left, and whoever finishes the last one assembles the batch."""

    def __init__(self, keys: list[str], load: Callable, assemble: Callable) -> None:
        self.keys = keys
        self._load, self._assemble = load, assemble
        self._images: list = [None] * len(keys)
        self._failed: list = [None] * len(keys)
        self._next = self._done = 0
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._result = None
        self._error: BaseException | None = None

    def work(self) -> None:
        """Decode unclaimed images of this batch (in any thread) until none is left."""
        while True:
            with self._lock:
                i = self._next
                if i == len(self.keys):
                    return
                self._next += 1
            try:
                self._images[i] = self._load(self.keys[i])
            except Exception as e:  # the reader's error names the file
                self._failed[i] = f"{type(e).__name__}: {e}"
            with self._lock:
                self._done += 1
                last = self._done == len(self.keys)
            if last:
                try:
                    self._result = self._assemble(self.keys, self._images, self._failed)
                except BaseException as e:  # raised in the network's thread by result()
                    self._error = e
                self._images = []  # the batch holds them now
                self._ready.set()

    def result(self):
        """(ok keys, preprocessed batch or None, failed {key: reason}): the network's thread
        decodes what is still unclaimed itself rather than wait idle, then waits."""
        if not self._ready.is_set():
            self.work()
            self._ready.wait()
        if self._error is not None:
            raise self._error
        return self._result


def image_batches(keys: list, batch_size: int, shard_size: int = SHARD_SIZE) -> list:
    """`[(shard index, keys of one batch)]`: each shard's keys cut into batches, so a shard's
    last batch may be shorter (the network sees it padded to `batch_size`, see `_compute_images`).

    Example:
        >>> [(s, len(b)) for s, b in image_batches(list(range(10)), 4, shard_size=6)]
        [(0, 4), (0, 2), (1, 4)]
    """
    batches = []
    for s, start in enumerate(range(0, len(keys), shard_size)):
        chunk = keys[start : start + shard_size]
        batches += [(s, chunk[i : i + batch_size]) for i in range(0, len(chunk), batch_size)]
    return batches


def _compute_images(enc, todo, inputs, grid, batch_size, store, shard_size, bar, on_shard, out):
    """Compute and store image features for keys `todo`.

    Three stages overlap: a low-priority decode thread prepares the next `PREFETCH` batches
    (`_BatchDecode`: the calling thread helps when it is ahead); the calling thread runs the
    network; a low-priority writer thread copies the outputs into one shard's buffer, writes the
    shard and copies it into `out` (an `_Rows`, the result) unless None. At most one shard write
    is in flight, so an error (or a kill) leaves exactly the finished shards behind, and memory
    holds one shard's buffer and one shard's network outputs at most, whatever `len(todo)`.
    """

    def assemble(keys, images, failed_reasons):
        ok = [k for k, im in zip(keys, images, strict=True) if im is not None]
        failed = {k: r for k, r in zip(keys, failed_reasons, strict=True) if r is not None}
        if not ok:
            return ok, None, failed
        x = np.stack([im for im in images if im is not None])
        # pad a short batch: the network's float rounding depends on the batch size, so padding
        # keeps an image's features the same whichever worker or shard it falls in
        if len(x) < batch_size:
            x = np.concatenate([x, np.repeat(x[-1:], batch_size - len(x), axis=0)])
        return ok, enc.preprocess(x), failed

    # one shard's rows, re-used shard after shard; touched by the writer thread only
    buf = _Rows([None] * shard_size, enc.dim, enc.info()["grid_shape"] or (1,), grid)
    keys: list[str] = []
    failed: dict[str, str] = {}

    def post(ok, pooled, g, bad):
        if ok:
            buf.put(ok, pooled, g if grid else None, at=slice(len(keys), len(keys) + len(ok)))
        keys.extend(ok)
        failed.update(bad)

    def flush():
        n = len(keys)
        g = buf.grid[:n] if grid else None
        _flush(store, keys, buf.pooled[:n], g, failed, on_shard, out)
        keys.clear()
        failed.clear()

    batches = [  # (shard index, decoding of one batch)
        (s, _BatchDecode(chunk, lambda k: enc.load(inputs[k]), assemble))
        for s, chunk in image_batches(todo, batch_size, shard_size)
    ]
    with (
        ThreadPoolExecutor(DECODE_THREADS, "decode", initializer=low_priority_thread) as reader,
        ThreadPoolExecutor(1, "write", initializer=low_priority_thread) as writer,
    ):
        for _, batch in batches[:PREFETCH]:
            reader.submit(batch.work)
        pending: list = []
        for b, (s, batch) in enumerate(batches):
            ok, x, bad = batch.result()  # not `failed`: the writer's closures read that one
            batches[b] = (s, None)
            if b + PREFETCH < len(batches):  # keep PREFETCH batches decoding meanwhile
                reader.submit(batches[b + PREFETCH][1].work)
            pooled, g = enc.forward(x) if x is not None else (None, None)
            pending.append(writer.submit(post, ok, pooled, g, bad))
            bar.update(len(batch.keys))
            if b + 1 == len(batches) or batches[b + 1][0] != s:
                for f in pending:  # the previous shard's write finished (or raises here)
                    f.result()
                pending = [writer.submit(flush)]
        for f in pending:
            f.result()


def _compute_texts(enc, todo, inputs, batch_size, store, shard_size, bar, on_shard, out):
    """Encode texts shard by shard; a text the encoder cannot take (e.g. a lone surrogate
    character) is recorded as failed with the reason, and the others are kept."""
    for i in range(0, len(todo), shard_size):
        chunk = todo[i : i + shard_size]
        try:
            vecs = np.asarray(enc.encode([inputs[k] for k in chunk], batch_size=batch_size))
            bad = not np.isfinite(vecs).all()
        except Exception:
            bad = True
        if not bad:
            _flush(store, chunk, vecs, None, {}, on_shard, out)
        else:  # find the culprits one by one
            ok, rows, failed = [], [], {}
            for k in chunk:
                try:
                    v = np.asarray(enc.encode([inputs[k]]), "float32")
                except Exception as e:
                    failed[k] = f"{type(e).__name__}: {e}"
                    continue
                if np.isfinite(v).all():
                    ok.append(k)
                    rows.append(v[0])
                else:
                    failed[k] = "non-finite features"
            pooled = np.stack(rows) if rows else np.zeros((0, enc.dim), "float32")
            _flush(store, ok, pooled, None, failed, on_shard, out)
        bar.update(len(chunk))


def _flush(store, keys, pooled, grid, failed, on_shard, out):
    """Write one shard (`keys` rows of `pooled` / `grid`, and the failed inputs), if any, and
    copy its rows into `out` (the result, an `_Rows`) unless None."""
    if not keys and not failed:
        return
    path = store.add(keys, pooled, grid, failed)
    if out is not None and keys:
        out.put(keys, pooled, grid)
    if on_shard is not None:
        on_shard(path)


_NO_BAR = SimpleNamespace(update=lambda n: None, close=lambda: None)


def _progress(total, desc, enabled):
    """A tqdm progress bar, or `_NO_BAR` when disabled, empty or without tqdm."""
    if not enabled or total == 0:
        return _NO_BAR
    try:
        # lazy: progress bars only
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover
        return _NO_BAR
    return tqdm(total=total, desc=desc, unit="item", leave=False)


def extract_features(
    run_dir,
    posts: Sequence[Post],
    kind: str,
    encoder="auto",
    *,
    grid: bool = False,
    shard: str | tuple[int, int] | None = None,
    batch_size: int = 32,
    report: RunReport | None = None,
    progress: bool = True,
    cache_dir: str | Path | None = None,
    shard_size: int = SHARD_SIZE,
    on_shard: Callable[[Path], None] | None = None,
    compute: bool = True,
    load: bool = True,
) -> FeatureSet | CachedFeatures:
    """Compute (what is not cached yet) and return the features of `posts`.

    Args:
        run_dir: the run directory (`outputs/<run>`); the index and, by default, the shards
            go to `<run_dir>/features/<encoder-id>/`.
        posts: the posts, e.g. `RunDir(run_dir).load_posts()`; kind "image" reads
            `post.image` (absolute path), kind "text" reads `post.text`.
        kind: "image" or "text".
        encoder: "auto" (InceptionV3 / USE v4 when available offline, else EfficientNet-Lite0 /
            USE multilingual v3), an encoder name, or an `ImageEncoder`/`TextEncoder` object.
        grid: also keep the image region grid `(N, h*w, C)` float16 (attention models).
        shard: "i/n" or (i, n): compute only this worker's share (for parallel workers); the
            returned set then holds only this share's posts, and no index is written. Run
            once more without `shard` (or `compute=False`) to merge.
        batch_size: images per forward pass (texts per encoder call).
        report: a `RunReport` counting missing/unreadable inputs (post id + file) and
            recomputed corrupt shards; a fresh one is made when None.
        progress: show a tqdm progress bar.
        cache_dir: a shared store folder (default `$HASHTAG_KIT_FEATURE_CACHE`, else the run).
        shard_size: items per shard file.
        on_shard: called with each newly written shard's path.
        compute: False to only assemble cached features (merge); missing ones raise.
        load: False to leave the features in their shards (memory bounded by one shard
            whatever the number of posts) and return `CachedFeatures` instead.

    Returns:
        A `FeatureSet` in the order of `posts`: `pooled (N, D)` float32, `grid (N, h*w, C)`
        float16 or None, `mask (N,)` bool (False = missing or unreadable input), `encoder`;
        with `load=False` the `CachedFeatures` of the posts.

    Example:
        >>> rd = RunDir("outputs/default")
        >>> img = extract_features(rd.path, rd.load_posts(), "image", grid=True)
        >>> txt = extract_features(rd.path, rd.load_posts(), "text")
        >>> img.pooled.shape, img.grid.shape, txt.pooled.shape
        ((n, 1280), (n, 49, 1280), (n, 512))
    """
    run_dir = Path(run_dir)
    report = report if report is not None else RunReport()
    shard = parse_shard(shard) if isinstance(shard, str) else shard
    enc = get_encoder(kind, encoder)
    grid = bool(grid) and kind == "image"
    info = {**enc.info(), "id": enc.id, "kind": kind}
    store = ShardStore(_store_root(run_dir, cache_dir) / enc.id, report)
    old = _read_index(run_dir / "features" / enc.id) or {}
    old_stat = old.get("stat", {}) if old.get("kind") == kind else {}

    keys, stat, inputs = _plan(posts, kind, old_stat, report)
    wanted = [k for k in inputs if _in_shard(k, shard)]
    computed: set[str] = set()
    sel = [i for i, k in enumerate(keys) if k is not None and _in_shard(k, shard)]
    take_keys = keys if shard is None else [keys[i] for i in sel]
    grid_shape = enc.info()["grid_shape"] or (1,)
    rows = _Rows(take_keys, enc.dim, grid_shape, grid) if load else None  # the result
    for _attempt in range(3):  # a shard found corrupt while reading is recomputed
        todo = [k for k in wanted if not store.has(k, grid)]
        computed.update(todo)
        if todo and not compute:
            raise MissingFeaturesError(
                f"{run_dir}: {len(todo)} {kind} items are not in {store.path} yet; run the "
                f"missing workers (`python -m hashtag_kit features {run_dir} --kind {kind} "
                "--shard i/n`) or extract without --merge"
            )
        if todo:
            log.info(
                "%s features: computing %d of %d items with %s",
                kind,
                len(todo),
                len(inputs),
                enc.id,
            )
            bar = _progress(len(todo), f"{kind} features ({enc.name})", progress)
            try:
                if kind == "image":
                    _compute_images(
                        enc, todo, inputs, grid, batch_size, store, shard_size, bar, on_shard, rows
                    )
                else:
                    _compute_texts(
                        enc, todo, inputs, batch_size, store, shard_size, bar, on_shard, rows
                    )
            finally:
                bar.close()
        if not load:  # shards are checked when they are read
            found = store.present(take_keys, grid)
            break
        pooled, g, found, bad = store.gather(take_keys, enc.dim, grid_shape, grid, rows)
        if not bad:
            break
    else:
        raise RuntimeError(f"{store.path}: shards keep failing their checksums (disk problem?)")
    failed = store.failed()
    for p, k in zip(posts, keys, strict=True):
        if k in failed and _in_shard(k, shard):
            if kind == "image":
                report.skip("unreadable_image", f"post {p.id}: {inputs[k]}", failed[k])
            else:
                report.skip("unencodable_text", f"post {p.id}: {inputs[k][:60]!r}", failed[k])
    ids = [p.id for p in posts] if shard is None else [posts[i].id for i in sel]
    reused = len(wanted) - len(computed)
    cache_use = {"store": str(store.path), "computed": len(computed), "reused": reused}
    log.info(
        "%s features (%s): %d of %d inputs reused from %s, %d computed",
        kind,
        enc.id,
        reused,
        len(wanted),
        store.path,
        len(computed),
    )
    if load:
        fs = FeatureSet(ids, pooled, g, found, info, cache_use)
    else:
        fs = CachedFeatures(ids, take_keys, store, info, grid, run_dir, cache_use)
    if shard is None:
        write_index(run_dir, info, store.path, ids, keys, grid, stat, int(found.sum()), report)
    return fs


def write_index(run_dir, info, store, ids, keys, grid, stat=None, n_present=None, report=None):
    """Record which post has which key: `<run_dir>/features/<info["id"]>/index.json` (with
    `report.json`), and the encoder in `run.json`. `info` is the encoder's info with "id"
    and "kind"; `store` the shard folder; `keys` one content key (or None) per id."""
    run_dir, report = Path(run_dir), report if report is not None else RunReport()
    index_dir = run_dir / "features" / info["id"]
    write_json(
        index_dir / "index.json",
        {
            "version": INDEX_VERSION,
            "kind": info["kind"],
            "encoder": info,
            "store": _store_ref(Path(store), index_dir),
            "grid": grid,
            "ids": list(ids),
            "keys": list(keys),
            "stat": stat or {},
            "n_present": sum(k is not None for k in keys) if n_present is None else n_present,
            "report": report.to_dict(),
        },
    )
    report.write(index_dir / "report.json")
    RunDir(run_dir).update_meta(encoders={info["kind"]: info})


# -- loading -----------------------------------------------------------------------------------
def _store_ref(store: Path, index_dir: Path) -> str:
    """How an index names its store: relative to the index folder when the store is inside
    the run (so a moved or copied run reads its own shards), else absolute (a shared store)."""
    store, run = store.resolve(), index_dir.resolve().parent.parent
    if store == run or run in store.parents:
        return os.path.relpath(store, index_dir.resolve())
    return str(store)


def _store_of(idx: dict, index_dir: Path) -> Path:
    """The store an index names (see `_store_ref`). An absolute path recorded by an older kit
    that no longer exists is replaced by the index's own folder when that holds shards (a run
    moved after extraction)."""
    store = Path(idx["store"])
    if not store.is_absolute():
        return index_dir / store
    if not store.is_dir() and any(index_dir.glob("shard-*.npz")):
        return index_dir
    return store


def _read_index(index_dir: Path) -> dict | None:
    try:
        return read_json(index_dir / "index.json", dict)
    except (OSError, ValueError):
        return None


def _find_index(run_dir: Path, kind: str, encoder) -> Path:
    how = (
        f"run `python -m hashtag_kit features {run_dir} --kind {kind}` (or notebook 01's "
        "feature section) first"
    )
    if not isinstance(encoder, str):
        d = run_dir / "features" / encoder.id
        if not (d / "index.json").exists():
            raise FileNotFoundError(f"{d}: {kind} features of {encoder.id} not extracted; {how}")
        return d
    found, damaged = [], []
    for p in sorted((run_dir / "features").glob("*/index.json")):
        idx = _read_index(p.parent)
        if not isinstance(idx, dict) or not isinstance(idx.get("encoder"), dict):
            damaged.append(str(p))
        elif idx.get("kind") == kind:
            found.append((p.stat().st_mtime, idx["encoder"], p.parent))
    if encoder != "auto":
        found = [f for f in found if f[1].get("name") == encoder or f[1].get("id") == encoder]
    if not found:
        unreadable = f" ({', '.join(damaged)} unreadable: delete it)" if damaged else ""
        raise FileNotFoundError(
            f"{run_dir}: no {kind} features ({encoder}) extracted yet{unreadable}; {how}"
        )
    if encoder == "auto":  # the encoder the run recorded, else the most recent extraction
        used = RunDir(run_dir).meta().get("encoders", {}).get(kind, {}).get("id")
        for f in found:
            if f[1].get("id") == used:
                return f[2]
    return max(found, key=lambda f: f[0])[2]


@dataclass
class CachedFeatures:
    """Features of a list of posts left in their shards: nothing is read until asked.

    What `open_features` and `extract_features(..., load=False)` return. `load(ids)` reads
    rows into a `FeatureSet`; `hashtag_kit.features.stream.feature_dataset` streams them,
    shard by shard, through `tf.data`.

    Args:
        ids: post ids.
        keys: the content key of each post (None = missing or unreadable input).
        store: the `ShardStore` holding the shards.
        encoder: the encoder's info (`dim`, `grid_shape`, `kind`, ...).
        grid: whether the grids were extracted.
        run_dir: the run (named in error messages).
        cache: from `extract_features`, what was reused and computed ({"store", "reused",
            "computed"}); None when opened with `open_features`.
    """

    ids: list[str]
    keys: list[str | None]
    store: ShardStore
    encoder: dict
    grid: bool = False
    run_dir: Path | None = None
    cache: dict | None = None

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def dim(self) -> int:
        return int(self.encoder["dim"])

    @property
    def grid_shape(self) -> tuple[int, int]:
        """`(R, C)` of one post's grid: R = h*w regions of C channels."""
        shape = self.encoder.get("grid_shape") or (1,)
        return int(np.prod(shape[:-1])), int(shape[-1])

    def keys_of(self, ids: Sequence[str] | None = None) -> list[str | None]:
        """Content keys of `ids` (default: all), in that order (KeyError naming the unknown)."""
        if ids is None:
            return list(self.keys)
        return [self.keys[r] for r in _rows_of(self.ids, ids)]

    def mask(self, ids: Sequence[str] | None = None) -> np.ndarray:
        """bool `(N,)`: True where the post's features are in the store."""
        return self.store.present(self.keys_of(ids), False)

    def locate(self, ids=None, grid: bool = False) -> tuple[list[Path], np.ndarray, np.ndarray]:
        """Where each post's row is: (shard paths, shard number per post (-1 = no features,
        or no grid when `grid`), row in that shard per post), int64 `(N,)` arrays."""
        table, number = self.store.table(), {}
        keys = self.keys_of(ids)
        shard = np.full(len(keys), -1, np.int64)
        row = np.zeros(len(keys), np.int64)
        for i, k in enumerate(keys):
            got = table.get(k)
            if got is None or (grid and not got[1]):
                continue
            shard[i] = number.setdefault(got[0], len(number))
            row[i] = got[2]
        return list(number), shard, row

    def load(self, ids: Sequence[str] | None = None, grid: bool | None = None) -> FeatureSet:
        """Read the rows of `ids` (default: all) into a `FeatureSet`; the grid only when
        `grid` (None = when extracted). Raises RuntimeError when cached rows are lost."""
        keys = self.keys_of(ids)
        want_grid = self.grid if grid is None else bool(grid and self.grid)
        shape = self.encoder.get("grid_shape") or (1,)
        pooled, g, found, bad = self.store.gather(keys, self.dim, shape, want_grid)
        failed = self.store.failed()
        lost = sum(
            k is not None and not f and k not in failed for k, f in zip(keys, found, strict=True)
        )
        if bad or lost:
            kind = self.encoder.get("kind", "image")
            raise MissingFeaturesError(
                f"{self.store.path}: {lost} cached {kind} features missing or corrupt; re-run "
                f"`python -m hashtag_kit features {self.run_dir} --kind {kind}` to recompute them"
            )
        return FeatureSet(list(self.ids if ids is None else ids), pooled, g, found, self.encoder)


def open_features(run_dir, kind: str, encoder="auto") -> CachedFeatures:
    """The features `extract_features` cached for a run, left in their shards (nothing read).

    Args:
        run_dir: the run directory.
        kind: "image" or "text".
        encoder: "auto" (the one recorded in run.json), an encoder name or id, or an encoder.

    Raises:
        FileNotFoundError: not extracted yet (the message names the command to run).
    """
    run_dir = Path(run_dir)
    d = _find_index(run_dir, kind, encoder)
    idx = read_json(d / "index.json")
    store = ShardStore(_store_of(idx, d), repair=False)
    info = {"kind": kind, **idx["encoder"]}
    return CachedFeatures(list(idx["ids"]), idx["keys"], store, info, bool(idx["grid"]), run_dir)


def load_features(
    run_dir,
    kind: str,
    encoder="auto",
    ids: Sequence[str] | None = None,
    *,
    grid: bool | None = None,
) -> FeatureSet:
    """Read features extracted earlier by `extract_features` (no model is built).

    Args:
        run_dir, kind, encoder: as in `open_features`.
        ids: post ids to return, in this order (default: all, manifest order); only their
            rows are read.
        grid: False to skip reading the image grid (faster, and a stage that does not use it
            should never hold it); None = as extracted.

    Raises:
        FileNotFoundError: not extracted yet (the message names the command to run).
        RuntimeError: cached shards are missing or corrupt (re-run the extraction).
    """
    return open_features(run_dir, kind, encoder).load(ids, grid)
