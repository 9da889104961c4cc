"""Multi-worker training with TensorFlow's own engine: `tf.distribute.MultiWorkerMirroredStrategy`
(synchronous data parallelism: every worker holds the whole model, takes its share of each
global batch and all-reduces the gradients), configured by the `TF_CONFIG` environment variable.

One strategy per process, made before any other TensorFlow op (TensorFlow configures its
collective ops once, at startup: later it raises "Collective ops must be configured at program
startup"), so `multi_worker_strategy()` builds it once and returns it again after. Only the
chief (task "chief", or worker 0 when the cluster has none) writes checkpoints; every worker
reads them, so the checkpoint folder must be on a filesystem all machines share.

Keras 3.15 cannot `fit` under this strategy as shipped (keras-team/keras#20585, open): two of
its reductions fail across workers. `patch_keras()` corrects them (process-wide, once; a no-op
for every other strategy) and is applied by `multi_worker_strategy()`.

Launch: the same command on each machine, each with its own TF_CONFIG, e.g.
    TF_CONFIG='{"cluster": {"worker": ["host1:12345", "host2:12345"]},
                "task": {"type": "worker", "index": 0}}'
(docs/usage.md, "Scale").
"""

from __future__ import annotations

import json
import os

import tensorflow as tf
from keras.src import tree
from keras.src.backend.tensorflow import trainer as keras_tf_trainer

from hashtag_kit.files import BAD_JSON

_STRATEGY: list = []  # the process's one MultiWorkerMirroredStrategy, once made


def multi_worker_strategy() -> tf.distribute.MultiWorkerMirroredStrategy:
    """The process's `MultiWorkerMirroredStrategy` (made on the first call, from TF_CONFIG).

    Raises a one-line ValueError without TF_CONFIG (a worker that trained alone would leave
    the others of its cluster waiting), and a RuntimeError saying what to do when TensorFlow
    already ran an op in this process.
    """
    if _STRATEGY:
        return _STRATEGY[0]
    config = os.environ.get("TF_CONFIG", "")
    try:
        cluster = json.loads(config)["cluster"] if config else None
    except (*BAD_JSON, KeyError, TypeError):
        raise ValueError(f"TF_CONFIG is not JSON with a 'cluster' entry: {config!r}") from None
    if not cluster:
        raise ValueError(
            "strategy 'multi_worker' needs the TF_CONFIG environment variable (the cluster "
            "and this worker's task, docs/usage.md 'Scale'); 'mirrored' uses one machine's devices"
        )
    try:
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
    except RuntimeError as e:
        raise RuntimeError(
            f"{e}: make the strategy first in the process (get_strategy('multi_worker') before "
            "any other TensorFlow work, e.g. right after a notebook's parameters)"
        ) from None
    patch_keras()
    _STRATEGY.append(strategy)
    return strategy


def is_multi_worker(strategy) -> bool:
    """True for a `MultiWorkerMirroredStrategy` whose cluster has more than one worker."""
    return bool(keras_tf_trainer._collective_all_reduce_multi_worker(strategy))


def is_chief(strategy) -> bool:
    """True for the process that writes checkpoints: task "chief", or worker 0 when the
    cluster has no chief; always True for a strategy of one machine."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type or resolver.task_type == "chief":
        return True
    has_chief = "chief" in resolver.cluster_spec().jobs
    return resolver.task_type == "worker" and resolver.task_id == 0 and not has_chief


def check_same_start(strategy, start: int) -> None:
    """Raise on every worker unless all resume from the same epoch (`start`): a worker that
    sees another checkpoint folder (not on a shared filesystem) would train other epochs."""
    starts = strategy.gather(strategy.run(lambda: tf.constant([start], tf.int64)), axis=0)
    starts = sorted(set(starts.numpy().tolist()))
    if len(starts) > 1:
        raise RuntimeError(
            f"the workers resume from different epochs {starts}: the checkpoint folder must be "
            "on a filesystem every worker shares"
        )


def patch_keras() -> None:
    """Correct Keras 3's two reductions that fail across workers (keras-team/keras#20585):
    the first batch is read for its shapes from this worker's own part instead of being
    all-reduced as a tuple, and the per-replica logs (scalars) are averaged over the replicas
    (`axis=None`) instead of along an axis 0 they lack. Other strategies are left as they are."""
    if getattr(keras_tf_trainer, "_hashtag_kit_patched", False):
        return
    reduce_per_replica = keras_tf_trainer.reduce_per_replica
    symbolic_build = keras_tf_trainer.TensorFlowTrainer._maybe_symbolic_build
    across = is_multi_worker

    def reduce_logs(values, strategy, reduction):
        if reduction in ("auto", "mean") and across(strategy):
            return tree.map_structure(lambda v: strategy.reduce("MEAN", v, axis=None), values)
        return reduce_per_replica(values, strategy, reduction)

    def build_from_local_batch(self, iterator=None, data_batch=None):
        strategy = self.distribute_strategy
        if iterator is not None and across(strategy):
            batch = next(next(iter(iterator))[2])  # the first step's (distributed) batch

            def local(v):
                if isinstance(v, tf.distribute.DistributedValues):
                    return strategy.experimental_local_results(v)[0]
                return v

            iterator, data_batch = None, tree.map_structure(local, batch)
        return symbolic_build(self, iterator=iterator, data_batch=data_batch)

    keras_tf_trainer.reduce_per_replica = reduce_logs
    keras_tf_trainer.TensorFlowTrainer._maybe_symbolic_build = build_from_local_batch
    keras_tf_trainer._hashtag_kit_patched = True
