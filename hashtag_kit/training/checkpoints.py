"""Epoch checkpoints of `hashtag_kit.training.fit`: per epoch `epoch_NNNN.keras` (weights and
optimizer state), `best_NNNN.npz` (the best epoch's weights so far) and `epoch_NNNN.json` (the
commit point: the state, the SHA-256 of the files it names, the `key` it was made with, the
dropout random-number states), each written atomically, verified on resume."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from hashtag_kit.files import atomic_path, file_sha256, sweep_stale_temps, write_json

log = logging.getLogger("hashtag_kit.training")

#: epochs whose checkpoints a folder keeps: the last one and the one before (a fallback)
KEEP_CHECKPOINTS = 2


class CheckpointError(ValueError):
    """A checkpoint file is damaged (truncated, changed, unreadable)."""


@dataclass
class Checkpoint:
    """A verified epoch checkpoint: the model, state ({"epoch", "history", "best_epoch", ...})
    and best epoch's weights (or None)."""

    model: keras.Model
    state: dict
    best_weights: list | None


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


def _seed_states(model) -> list:
    # the random-number states of dropout / modality dropout, in the model's variable order:
    # `.keras` files do not restore them, so checkpoints carry them for an exact resume
    return [v for v in model.non_trainable_variables if v.path.endswith("seed_generator_state")]


def _read_checkpoint(checkpoint_dir: Path, state_file: Path, key: dict) -> Checkpoint:
    """One epoch's checkpoint, verified. Raises CheckpointError for a damaged one, ValueError
    for one of another configuration."""
    try:
        state = json.loads(state_file.read_text(encoding="utf-8"))
        if not isinstance(state, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as e:
        raise CheckpointError(f"{state_file.name} is unreadable ({e})") from None
    if state.get("config") != json.loads(json.dumps(key, default=str)):
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
    return Checkpoint(model, state, best_weights)


def load_epoch_checkpoint(
    checkpoint_dir: str | Path | None, key: dict, notes: list | None = None
) -> Checkpoint | None:
    """The latest epoch checkpoint in `checkpoint_dir` that verifies, or None.

    The dropout random-number states are restored too, so a resumed training ends where an
    uninterrupted one would. Every file is checked against the SHA-256 its state recorded. A
    damaged checkpoint (a truncated `.keras` or state file, a changed `best_NNNN.npz`) is
    skipped with a warning and a line appended to `notes`; the previous epoch's checkpoint is
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


def save_epoch_checkpoint(
    checkpoint_dir: str | Path, model, key: dict, epoch: int, history, best, **extra
) -> None:
    """Write the checkpoint of a finished epoch: `epoch_NNNN.keras`, `best_NNNN.npz` when
    this epoch is the best so far, and `epoch_NNNN.json` last (the commit point), each
    atomically; then remove the files no longer needed (the folder keeps the last
    `KEEP_CHECKPOINTS` epochs and the best weights they name). `best` is `(best_epoch,
    best_weights)`; `extra` is stored in the state."""
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
    write_json(checkpoint_dir / f"epoch_{epoch:04d}.json", state, default=str)
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
