"""The one training loop of the kit: every trainer (encoder-decoder, captioners, attention and
co-attention classifiers, CNN-RNN, the tweet evaluation) fits through `fit`: one Keras `fit`
over all epochs with a step timer, restore-best / early stopping / learning-rate decay on the
val loss (or on a score such as dev BLEU-4: `monitor`), epoch checkpoints with an exact resume
(`checkpoint_every`), and the distribution strategy.

Example:
    >>> result = fit(model, (x, y), (vx, vy), epochs=5, batch_size=32)  # doctest: +SKIP
    >>> result.best_epoch, result.ms_per_step  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from hashtag_kit.training import multi_worker
from hashtag_kit.training.checkpoints import (
    CheckpointWriter,
    epoch_snapshot,
    load_epoch_checkpoint,
    save_epoch_checkpoint,
)

log = logging.getLogger("hashtag_kit.training")

STRATEGIES = ("none", "mirrored", "multi_worker")
#: the environment variable that sets `fit`'s default `checkpoint_every` (seconds)
CHECKPOINT_EVERY_ENV = "HASHTAG_KIT_CHECKPOINT_EVERY"
#: at most one checkpoint written per this many seconds of training by default (what a write
#: costs: docs/performance.md)
CHECKPOINT_EVERY = 60.0


def get_strategy(strategy=None):
    """A `tf.distribute.Strategy` from "none"/None (the default strategy), "mirrored" (the
    visible devices of this machine), "multi_worker" (`MultiWorkerMirroredStrategy` over the
    machines TF_CONFIG names, made once per process: `multi_worker.multi_worker_strategy`) or
    an existing strategy object.
    """
    if strategy is None or strategy == "none":
        return tf.distribute.get_strategy()
    if isinstance(strategy, tf.distribute.Strategy):
        return strategy
    if strategy == "mirrored":
        return tf.distribute.MirroredStrategy()
    if strategy == "multi_worker":
        return multi_worker.multi_worker_strategy()
    raise ValueError(
        f"strategy must be one of {STRATEGIES} or a tf.distribute.Strategy: {strategy}"
    )


def count_params(model) -> int:
    """Scalar trainable parameter count."""
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


class StepTimer(keras.callbacks.Callback):
    """Wall time of every training step (from its batch's begin to its end) and epoch."""

    def __init__(self) -> None:
        super().__init__()
        self.steps: list[list[float]] = []  # per epoch, each step's seconds
        self.epochs: list[float] = []  # each epoch's seconds (validation included)

    def on_epoch_begin(self, epoch, logs=None):
        self.steps.append([])
        self._epoch = time.perf_counter()

    def on_train_batch_begin(self, batch, logs=None):
        self._step = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.steps[-1].append(time.perf_counter() - self._step)

    def on_epoch_end(self, epoch, logs=None):
        self.epochs.append(time.perf_counter() - self._epoch)

    @property
    def ms_per_step(self) -> float | None:
        """Median ms of a step after the first epoch (tracing), or after the first step."""
        warm = [t for e in self.steps[1:] for t in e] or [t for e in self.steps[:1] for t in e[1:]]
        return float(np.median(warm) * 1000.0) if warm else None


@dataclass
class TrainResult:
    """What `fit` returns: the model (the checkpoint's when resumed; the best epoch's weights
    when restore-best applied), the history {"loss": [...], "val_loss": [...]} per epoch
    (resumed epochs included), the median ms of a warm step, the trainable parameter count,
    the epochs done before this call (0 = fresh start), the epoch (0-based) whose weights the
    model ends with, and the damaged checkpoints skipped on resume (one line each)."""

    model: keras.Model
    history: dict
    ms_per_step: float | None
    trainable_params: int
    resumed_from_epoch: int = 0
    best_epoch: int | None = None
    checkpoint_notes: list = field(default_factory=list)

    @property
    def epochs_run(self) -> int:
        return len(self.history["loss"])


def _stopped(patience: int | None, best_epoch: int | None, epoch: int) -> bool:
    return patience is not None and best_epoch is not None and epoch - best_epoch > patience


class _EpochEnd(keras.callbacks.Callback):
    """After each epoch: history, best weights, learning-rate decay, checkpoint, early stop."""

    def __init__(
        self, history, best, restore_best, patience, lr_decay, folder, key, monitor, every
    ):
        super().__init__()
        self.history, (self.best_epoch, self.best_weights) = history, best
        self.restore_best, self.patience, self.lr_decay = restore_best, patience, lr_decay
        self.folder, self.key, self.monitor, self.every = folder, key, monitor, every
        self.writer = CheckpointWriter() if folder is not None else None
        self.written_at, self.unwritten, self.arrays = time.monotonic(), None, None

    def on_epoch_end(self, epoch, logs=None):
        logs, model, history = logs or {}, self.model, self.history
        history["loss"].append(float(logs["loss"]))
        if "val_loss" in logs:
            history["val_loss"].append(float(logs["val_loss"]))
        if self.monitor is not None:  # a score to maximise decides the best epoch
            name = "val_" + getattr(self.monitor, "name", "score")  # e.g. val_bleu4
            scores = history.setdefault(name, [])
            scores.append(float(self.monitor(model)))
            best = scores[-1] >= max(scores)
        else:  # else the val loss, when there is one
            best = "val_loss" in logs and history["val_loss"][-1] <= min(history["val_loss"])
        if self.restore_best and best:
            self.best_epoch = epoch
            self.best_weights = [np.array(w) for w in model.get_weights()]
        if self.lr_decay and self.best_epoch is not None and self.best_epoch != epoch:
            model.set_weights(self.best_weights)  # back to the best epoch, with smaller steps
            model.optimizer.learning_rate.assign(model.optimizer.learning_rate * self.lr_decay)
        stop = _stopped(self.patience, self.best_epoch, epoch + 1)
        if self.folder is not None:
            best = (self.best_epoch, self.best_weights)
            self.writer.wait()  # it may still be writing from the arrays refilled here
            self.unwritten = epoch_snapshot(model, self.key, epoch, history, best, self.arrays)
            self.arrays = self.unwritten[0]
            last = stop or epoch + 1 >= self.params.get("epochs", 0)
            if last or time.monotonic() - self.written_at >= self.every:
                self.write_unwritten()
        if stop:
            model.stop_training = True

    def write_unwritten(self) -> None:
        """Write the last finished epoch's checkpoint if it is not written yet (the interval
        skipped it, and training ends or is interrupted)."""
        if self.unwritten is not None:
            save_epoch_checkpoint(self.folder, self.unwritten, writer=self.writer)
            self.written_at, self.unwritten = time.monotonic(), None


def _checkpoint_every(seconds: float | None) -> float:
    """`fit`'s checkpoint interval: `seconds`, else `$HASHTAG_KIT_CHECKPOINT_EVERY`, else
    `CHECKPOINT_EVERY`; a ValueError naming the setting for a negative or non-number."""
    where = "checkpoint_every"
    if seconds is None and os.environ.get(CHECKPOINT_EVERY_ENV, "").strip():
        seconds, where = os.environ[CHECKPOINT_EVERY_ENV], f"${CHECKPOINT_EVERY_ENV}"
    try:
        value = float(CHECKPOINT_EVERY if seconds is None else seconds)
    except (TypeError, ValueError):
        value = -1.0
    if not value >= 0 or value == float("inf"):
        raise ValueError(f"{where} must be a number of seconds >= 0, got {seconds!r}")
    return value


@contextmanager
def _sigterm_raises(enabled: bool):
    """While training, SIGTERM (a cluster scheduler ending a job, `kill`) raises SystemExit
    with status 143 (128 + 15), so `fit` writes the last finished epoch's checkpoint before
    the process ends. Only where SIGTERM has Python's default handling, in the main thread (a
    handler someone else installed is left alone); the default is restored afterwards."""
    enabled = (
        enabled
        and threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    )

    def terminate(signum, frame):
        raise SystemExit(128 + signum)

    if enabled:
        signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        if enabled:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)


@dataclass
class EpochArrays:
    """One epoch's `(x, y)` arrays in their training order, which `epochs_dataset` cuts into
    `batch_size` rows inside tf.data: one Python call an epoch instead of one a batch."""

    x: dict
    y: np.ndarray
    batch_size: int

    def __len__(self) -> int:
        return -(-len(self.y) // self.batch_size)


def epochs_dataset(batches_of: Callable[[int], Sequence], start: int, stop: int):
    """One `tf.data.Dataset` of the batches of epochs `start` .. `stop - 1`, in order.

    `batches_of(epoch)` gives that epoch's `(x, y)` batches: an `EpochArrays`, a sequence (the
    same number every epoch), or a finite `tf.data.Dataset` of them (e.g.
    `features.stream.feature_dataset` streaming from the feature cache, seeded by the epoch):
    the datasets of the epochs are then concatenated, so a resumed training reads the same
    batches as an uninterrupted one.
    Arrays keep the first batch's shapes but for the batch size (fixed shapes keep the
    decoders' loops static, and faster), unless the batches give their own `signature`
    (`tf.TensorSpec`s, e.g. captions whose length changes from batch to batch).
    """
    first = batches_of(start)
    if isinstance(first, tf.data.Dataset):
        dataset = first
        for epoch in range(start + 1, stop):
            dataset = dataset.concatenate(batches_of(epoch))
        return dataset
    steps = len(first)

    def spec(a):
        return tf.TensorSpec((None, *np.shape(a)[1:]), tf.as_dtype(np.asarray(a).dtype))

    if isinstance(first, EpochArrays):  # whole epochs from Python, cut into batches by tf.data
        held, batch_size = [first], first.batch_size  # the first epoch, released once yielded

        def epochs():
            for epoch in range(start, stop):
                arrays = held.pop() if held else batches_of(epoch)
                yield arrays.x, arrays.y

        signature = tf.nest.map_structure(spec, (first.x, first.y))
        del first
        dataset = tf.data.Dataset.from_generator(epochs, output_signature=signature).prefetch(1)
        dataset = dataset.flat_map(
            lambda x, y: tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size)
        )
    else:

        def batches():
            for epoch in range(start, stop):
                epoch_batches = first if epoch == start else batches_of(epoch)
                yield from (epoch_batches[i] for i in range(steps))

        signature = getattr(first, "signature", None) or tf.nest.map_structure(spec, first[0])
        dataset = tf.data.Dataset.from_generator(batches, output_signature=signature)
    dataset = dataset.apply(tf.data.experimental.assert_cardinality(steps * (stop - start)))
    return dataset.prefetch(2)


def shard_by_data(dataset):
    """`dataset` split between workers batch by batch (each worker reads the whole dataset and
    keeps its part of every global batch) rather than by input files (a generator has none,
    and files split unevenly would give the workers different step counts): under a
    multi-worker strategy Keras shards `fit`'s datasets this way."""
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


def fit(
    model: keras.Model | Callable[[], keras.Model],
    data,
    val=None,
    *,
    epochs: int,
    batch_size: int | None = None,
    shuffle: bool = False,
    restore_best: bool = True,
    patience: int | None = None,
    lr_decay: float | None = None,
    checkpoint_dir: str | Path | None = None,
    keep_checkpoint: bool = True,
    key: dict | None = None,
    checkpoint_every: float | None = None,
    strategy=None,
    monitor: Callable[[keras.Model], float] | None = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    verbose: int = 0,
) -> TrainResult:
    """Train `model` for `epochs` epochs with epoch checkpoints; resume if one is found.

    Args:
        model: a compiled model, or a function returning one (called inside the strategy's
            scope; a model must have been built in that scope). Seed before building it. A
            resumed checkpoint's variables are assigned to it.
        data: `(x, y)` arrays (the same every epoch; `shuffle=True` lets Keras permute them,
            which under a fixed seed is the same permutation each epoch), or `batches_of(epoch)`
            giving epoch e's batches (`epochs_dataset`), whose order depends on e only.
        val: validation data as Keras takes it ((x, y) arrays or a dataset), or None.
        epochs: the total number of epochs (a resumed training runs the remaining ones).
        batch_size: for array `data` and `val`.
        restore_best: end with the weights of the epoch with the lowest val loss (with `val`),
            or the best `monitor` score.
        patience: stop after this many epochs without a better val loss or `monitor` score
            (None: never).
        lr_decay: after an epoch that is not the best, go back to the best weights with the
            learning rate multiplied by this (None: off).
        checkpoint_dir: the folder of this training's checkpoints (`checkpoints.py`; None:
            none). A re-run resumes after its last verified epoch and ends where an
            uninterrupted run would (the checkpoint carries optimizer and dropout states). The
            files are written in a background thread while the next epoch trains.
            Under "multi_worker" only the chief writes it and every worker resumes from it:
            on several machines it must be on a filesystem they all share.
        keep_checkpoint: keep the folder when training ends (False: only an interrupted
            training leaves one).
        key: what a checkpoint must have been made with to be resumed (configuration, data).
        checkpoint_every: write an epoch's checkpoint only when this many seconds passed since
            the last one was written (None: `$HASHTAG_KIT_CHECKPOINT_EVERY`, else
            `CHECKPOINT_EVERY`, 60 s; 0: every epoch). Every epoch's state is still copied
            when it ends, and the last finished epoch is always written: when training ends,
            stops early, or is interrupted by an exception (Ctrl-C included) or by SIGTERM (a
            cluster ending a job: the process then exits with status 143). Only a killed
            process (SIGKILL, power loss) loses up to this many seconds of training.
        strategy: "none", "mirrored", "multi_worker" or a `tf.distribute.Strategy`
            (`get_strategy`). The global batch is `batch_size` (each of N replicas takes
            1/N of it); a multi-worker dataset is sharded per worker (`shard_by_data`).
        monitor: a score to maximise, computed on the model after each epoch (e.g.
            `captioning.DevBleu`: dev BLEU-4, on which Xu et al. 2015 early-stop); its values go
            to the history as "val_<monitor.name>", and restore-best, `patience` and `lr_decay`
            follow it instead of the val loss (None: the val loss decides).
        callbacks: extra Keras callbacks; verbose: Keras fit verbosity.
    """
    folder = Path(checkpoint_dir) if checkpoint_dir is not None else None
    key = key if key is not None else {}
    every = _checkpoint_every(checkpoint_every)
    history: dict = {"loss": [], "val_loss": []}  # (+ the monitor's scores, after an epoch)
    start, best, notes = 0, (None, None), []
    strategy = get_strategy(strategy)
    if isinstance(model, keras.Model) and model.distribute_strategy is not strategy:
        raise ValueError(
            "the model was built outside the strategy's scope: pass a function that builds it "
            "(fit calls it inside the scope)"
        )
    with strategy.scope():
        if not isinstance(model, keras.Model):
            model = model()
        found = load_epoch_checkpoint(folder, key, notes, model)  # restored into `model`
        if found is not None:
            start, history = int(found.state["epoch"]) + 1, found.state["history"]
            best = (found.state.get("best_epoch"), found.best_weights)
    chief = multi_worker.is_chief(strategy)
    if multi_worker.is_multi_worker(strategy):
        multi_worker.patch_keras()  # for a strategy made outside `get_strategy`
        multi_worker.check_same_start(strategy, start)
    timer = StepTimer()
    written = folder if chief else None  # only the chief writes checkpoints
    end = _EpochEnd(history, best, restore_best, patience, lr_decay, written, key, monitor, every)
    if start < epochs and not _stopped(patience, best[0], start):
        (x, y), steps = data if not callable(data) else (None, None), None
        if callable(data):  # epoch -> its batches (a sequence or a dataset)
            x = shard_by_data(epochs_dataset(data, start, epochs))
            steps = int(x.cardinality()) // (epochs - start)
        try:
            with _sigterm_raises(end.writer is not None):
                model.fit(
                    x,
                    y,
                    batch_size=batch_size if y is not None else None,
                    epochs=epochs,
                    initial_epoch=start,
                    steps_per_epoch=steps,
                    shuffle=shuffle,
                    validation_data=shard_by_data(val) if hasattr(val, "with_options") else val,
                    validation_batch_size=batch_size if isinstance(val, tuple) else None,
                    callbacks=[timer, end, *callbacks],
                    verbose=verbose,
                )
        except BaseException as stop:
            if end.writer is not None:  # the last finished epoch's checkpoint is written
                try:
                    end.write_unwritten()
                    end.writer.close()
                    if history["loss"]:
                        log.warning(
                            "%s: training stopped (%s) after %d epochs, all written; a re-run "
                            "resumes from there",
                            folder,
                            type(stop).__name__,
                            len(history["loss"]),
                        )
                except Exception as e:  # noqa: BLE001 - the training's own error goes first
                    end.writer.close(raise_errors=False)
                    log.warning("%s: the last epoch's checkpoint was not written (%s)", folder, e)
            raise
    if end.writer is not None:
        end.writer.close()
    if folder is not None and not keep_checkpoint and chief:
        shutil.rmtree(folder, ignore_errors=True)
    if end.best_weights is not None:
        model.set_weights(end.best_weights)
    return TrainResult(
        model=model,
        history=history,
        ms_per_step=timer.ms_per_step,
        trainable_params=count_params(model),
        resumed_from_epoch=start,
        best_epoch=end.best_epoch if end.best_weights is not None else len(history["loss"]) - 1,
        checkpoint_notes=notes,
    )
