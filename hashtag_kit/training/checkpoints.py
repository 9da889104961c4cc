"""Epoch checkpoints of `hashtag_kit.training.fit`: per epoch `epoch_NNNN.npz` (every variable
of the model, dropout random-number states included, then the optimizer's), `best_NNNN.npz`
(the best epoch's weights so far) and `epoch_NNNN.json` (the commit point: the state, the
SHA-256 of the files it names, the `key` it was made with), each written atomically, verified
on resume.

The variables are copied at the epoch's end (`epoch_snapshot`, into host arrays reused from
epoch to epoch); the files are written by a `CheckpointWriter` in a background thread while the
next epoch trains, for at most one epoch a minute by default (`fit`'s `checkpoint_every`).
`python -m hashtag_kit bench train` measures what checkpoints cost (docs/performance.md)."""

from __future__ import annotations

import hashlib
import json
import logging
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from hashtag_kit.files import BAD_JSON, atomic_path, file_sha256, sweep_stale_temps, write_json
from hashtag_kit.run import low_priority_thread

log = logging.getLogger("hashtag_kit.training")

#: epochs whose checkpoints a folder keeps: the last one and the one before (a fallback)
KEEP_CHECKPOINTS = 2


class CheckpointError(ValueError):
    """A checkpoint file is damaged (truncated, changed, unreadable)."""


@dataclass
class Checkpoint:
    """A verified epoch checkpoint: its variables (`restore` puts them into a model), state
    ({"epoch", "history", "best_epoch", ...}) and the best epoch's weights (or None)."""

    variables: list
    state: dict
    best_weights: list | None

    def restore(self, model: keras.Model) -> keras.Model:
        """`model` (built and compiled as the checkpoint's was) with the checkpoint's model and
        optimizer variables; CheckpointError when they do not fit it."""
        try:
            if not model.built and self.state.get("build_config"):
                model.build_from_config(self.state["build_config"])
            if not model.optimizer.built:
                model.optimizer.build(model.trainable_variables)
            targets = [*model.variables, *model.optimizer.variables]
            if len(self.variables) != len(targets):
                raise ValueError(f"{len(self.variables)} arrays for {len(targets)} variables")
            for var, array in zip(targets, self.variables, strict=True):
                want = tuple(var.shape)
                if want != array.shape:
                    raise ValueError(f"{var.path}: array of shape {array.shape} for shape {want}")
            for var, value in zip(targets, self.variables, strict=True):
                var.assign(value)
        except Exception as e:  # noqa: BLE001 - any mismatch means: not this model's checkpoint
            raise CheckpointError(
                f"{self.state.get('file')} does not fit the model ({type(e).__name__}: {e})"
            ) from None
        return model


class CheckpointWriter:
    """Writes checkpoints in one background thread at low priority (it yields the cores to the
    training's threads), one at a time (a new one waits for the one before). `close()` waits
    for the last and raises its error."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(1, "checkpoint", initializer=low_priority_thread)
        self._pending: Future | None = None

    def submit(self, write, *args) -> None:
        self.wait()
        self._pending = self._pool.submit(write, *args)

    def wait(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def close(self, raise_errors: bool = True) -> None:
        try:
            if raise_errors:
                self.wait()
            elif self._pending is not None:
                self._pending.exception()  # finish writing; the caller's error goes first
        finally:
            self._pool.shutdown(wait=True)


def key_folder(root: str | Path, key: dict, prefix: str = "") -> Path:
    """`<root>/<prefix><16 hex digits of the key's SHA-256>`: one folder per training key, so
    a re-run finds its own checkpoint and another configuration or data never resumes it."""
    text = json.dumps(key, sort_keys=True, default=str).encode("utf-8")
    return Path(root) / f"{prefix}{hashlib.sha256(text).hexdigest()[:16]}"


def training_key(root, model: keras.Model, settings: dict, *data) -> tuple[Path | None, dict]:
    """`(folder, key)` of a model's training: `key` is what a checkpoint must match to be
    resumed (the model's class and configuration, the training settings, the number of epochs
    aside: training longer from a checkpoint is allowed, and a SHA-256 of the training data:
    lists as JSON, arrays by their bytes); `folder` is `<root>/<model class>-<key digest>`
    (None when `root` is None: no checkpoints)."""
    digest = hashlib.sha256()
    for part in data:
        if isinstance(part, list):
            digest.update(json.dumps(part).encode("utf-8"))
        else:
            digest.update(np.ascontiguousarray(part).tobytes())
    config = {k: v for k, v in model.get_config().items() if k not in ("name", "trainable")}
    key = {"model": type(model).__name__, "config": config, **settings, "data": digest.hexdigest()}
    key = json.loads(json.dumps(key, default=str))
    return (None if root is None else key_folder(root, key, f"{type(model).__name__}-")), key


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


def _arrays(path: Path) -> list:
    """The arrays of an `np.savez` file, in their order."""
    with np.load(path) as z:
        return [z[f"arr_{i}"] for i in range(len(z.files))]


def _read_checkpoint(checkpoint_dir: Path, state_file: Path, key: dict) -> Checkpoint:
    """One epoch's checkpoint, verified. Raises CheckpointError for a damaged one, ValueError
    for one of another configuration."""
    try:
        state = json.loads(state_file.read_text(encoding="utf-8"))
        if not isinstance(state, dict):
            raise ValueError("not a JSON object")
    except (OSError, *BAD_JSON) as e:
        raise CheckpointError(f"{state_file.name} is unreadable ({e})") from None
    if state.get("config") != json.loads(json.dumps(key, default=str)):
        raise ValueError(
            f"{checkpoint_dir}: the checkpoint was made with another configuration "
            f"({state.get('config')}); use another checkpoint folder or delete this one"
        )
    if not str(state.get("file", "")).endswith(".npz"):
        raise CheckpointError(f"{state.get('file')} is of an older layout (before 2026-12-03)")
    path = _verified(checkpoint_dir, state.get("file"), state.get("sha256"))
    best_weights = None
    if state.get("best_file"):
        best = _verified(checkpoint_dir, state["best_file"], state.get("best_sha256"))
        best_weights = _arrays(best)
    try:
        variables = _arrays(path)
    except (OSError, ValueError, KeyError) as e:  # passed its digest, yet not an npz of arrays
        raise CheckpointError(f"{path.name} does not load ({type(e).__name__}: {e})") from None
    return Checkpoint(variables, state, best_weights)


def load_epoch_checkpoint(
    checkpoint_dir: str | Path | None,
    key: dict,
    notes: list | None = None,
    model: keras.Model | None = None,
) -> Checkpoint | None:
    """The latest epoch checkpoint in `checkpoint_dir` that verifies, or None.

    Every file is checked against the SHA-256 its state recorded; given `model`, the
    checkpoint is restored into it here (`Checkpoint.restore`), so arrays that do not fit the
    model count as damage too. A damaged checkpoint is skipped with a warning and a line
    appended to `notes`; the previous epoch's is used instead, or None (start over) when none
    verifies. A checkpoint made with another `key` (configuration and data) is an error.
    """
    if checkpoint_dir is None or not Path(checkpoint_dir).is_dir():
        return None
    checkpoint_dir = Path(checkpoint_dir)
    sweep_stale_temps(checkpoint_dir)
    for state_file in sorted(checkpoint_dir.glob("epoch_*.json"), reverse=True):
        try:
            found = _read_checkpoint(checkpoint_dir, state_file, key)
            if model is not None:  # shapes are checked before any variable is assigned
                found.restore(model)
            return found
        except CheckpointError as e:
            note = f"{checkpoint_dir}: checkpoint {state_file.stem} skipped: {e}"
            log.warning("%s", note)
            if notes is not None:
                notes.append(note)
    if notes:
        notes.append(f"{checkpoint_dir}: no checkpoint verifies; training starts over")
        log.warning("%s", notes[-1])
    return None


def epoch_snapshot(
    model, key: dict, epoch: int, history, best, into: list | None = None, **extra
) -> tuple:
    """A finished epoch's checkpoint content, taken now (the next epoch changes the model):
    `(variables, state, best_weights)` for `save_epoch_checkpoint`. `best` is `(best_epoch,
    best_weights)`; `extra` is stored in the state.

    The variables are copied into numpy arrays: `into`, the arrays of this model's previous
    snapshot (reused once the writer is done with them, as `fit` does), or new ones; not
    tensors sharing the variables' buffers, which slow every step of the next epoch while held
    (docs/performance.md)."""
    variables = [*model.variables, *model.optimizer.variables]
    if into is None:
        into = [np.empty(tuple(v.shape), np.dtype(v.dtype)) for v in variables]
    for array, v in zip(into, variables, strict=True):
        # one copy: the read shares the variable's buffer (`.numpy()` would copy twice)
        np.copyto(array, v.value.read_value())
    state = {
        "epoch": epoch,
        "history": json.loads(json.dumps(history)),
        "config": key,
        "build_config": model.get_build_config(),
        "best_epoch": best[0],
        **extra,
    }
    return into, state, best[1]


def save_epoch_checkpoint(
    checkpoint_dir: str | Path, snapshot: tuple, writer: CheckpointWriter | None = None
) -> None:
    """Write an `epoch_snapshot` (through `writer` in the background, else here):
    `epoch_NNNN.npz`, `best_NNNN.npz` when this epoch is the best so far, and
    `epoch_NNNN.json` last (the commit point), each atomically; then remove the files no
    longer needed (the folder keeps the last `KEEP_CHECKPOINTS` epochs and the best weights
    they name)."""
    args = (Path(checkpoint_dir), *snapshot)
    if writer is None:
        _write_checkpoint(*args)
    else:
        writer.submit(_write_checkpoint, *args)


def _write_checkpoint(checkpoint_dir: Path, variables: list, state: dict, best_weights) -> None:
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    epoch, best_epoch = state["epoch"], state["best_epoch"]
    name = f"epoch_{epoch:04d}.npz"
    with atomic_path(checkpoint_dir / name) as tmp, open(tmp, "wb") as f:
        np.savez(f, *variables)  # epoch_snapshot's numpy arrays
    best_file = None if best_weights is None else f"best_{best_epoch:04d}.npz"
    if best_file and (best_epoch == epoch or not (checkpoint_dir / best_file).is_file()):
        with atomic_path(checkpoint_dir / best_file) as tmp, open(tmp, "wb") as f:
            np.savez(f, *best_weights)
    state = {
        **state,
        "file": name,
        "sha256": file_sha256(checkpoint_dir / name),
        "best_file": best_file,
        "best_sha256": file_sha256(checkpoint_dir / best_file) if best_file else None,
    }
    write_json(checkpoint_dir / f"epoch_{epoch:04d}.json", state, default=str)
    states = sorted(checkpoint_dir.glob("epoch_*.json"), reverse=True)
    keep = {p.name for p in states[:KEEP_CHECKPOINTS]}
    for p in states[:KEEP_CHECKPOINTS]:
        try:
            kept = json.loads(p.read_text(encoding="utf-8"))
            keep |= {kept.get("file"), kept.get("best_file")}
        except (OSError, *BAD_JSON):
            pass
    for old in [*checkpoint_dir.glob("epoch_*"), *checkpoint_dir.glob("best*.npz")]:
        if old.name not in keep:
            old.unlink(missing_ok=True)
    (checkpoint_dir / "state.json").unlink(missing_ok=True)  # the layout before 2026-12
