"""Multi-worker training (`strategy="multi_worker"`): two worker processes on localhost (CPU)
train the encoder-decoder through `tf.distribute.MultiWorkerMirroredStrategy` with a shared
checkpoint folder, are stopped after 3 of 5 epochs and resumed, and end with the metrics of a
one-process run of the same configuration.

Tolerance: F1@5 on the 96 held-out posts within 0.05 of the one-process run, and the last
epoch's training loss within 2 % of it. Both runs see the same global batches (each worker
takes half of every 32-post batch and the gradients are averaged across workers) with dropout
off, so they differ only by rounding: the mean over two half-batch means instead of one
full-batch mean, summed in another order, which 5 epochs of Adam carry into the weights
(measured: 0.2 % of the loss, 0.003 of F1@5). Hit@5 is 1.0 for both on this data (every post
has a tag of its image cluster among its top 5), so F1@5 is the figure that can move.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from hashtag_kit.training import get_strategy

SCRIPT = Path(__file__).resolve().parent / "multi_worker_run.py"
REPO = SCRIPT.parent.parent
TIMEOUT = 300  # seconds per launch: a hung collective fails the test instead of CI


def _free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _start(out: Path, checkpoint_dir: Path, epochs: int, strategy: str, tf_config=None):
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "2"}
    env["HASHTAG_KIT_CHECKPOINT_EVERY"] = "0"  # a checkpoint every epoch (counted below)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    env.pop("TF_CONFIG", None)
    if tf_config is not None:
        env["TF_CONFIG"] = json.dumps(tf_config)
    args = [sys.executable, str(SCRIPT), str(out), str(checkpoint_dir), str(epochs), strategy]
    return subprocess.Popen(
        args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _finish(procs: dict) -> None:
    """Wait for every process (killing all at the timeout); fail with their stderr tails."""
    errors = {}
    for name, proc in procs.items():
        try:
            _, err = proc.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            for p in procs.values():
                p.kill()
            _, err = proc.communicate()
            err = f"timed out after {TIMEOUT} s\n{err}"
        if proc.returncode != 0:
            errors[name] = f"exit {proc.returncode}:\n{err[-3000:]}"
    assert not errors, "\n\n".join(f"--- {n} {e}" for n, e in errors.items())


def _workers(tmp_path: Path, epochs: int, checkpoint_dir: Path) -> dict:
    hosts = [f"localhost:{p}" for p in _free_ports(2)]
    return {
        f"worker {i}": _start(
            tmp_path / f"worker{i}_{epochs}.json",
            checkpoint_dir,
            epochs,
            "multi_worker",
            {"cluster": {"worker": hosts}, "task": {"type": "worker", "index": i}},
        )
        for i in range(2)
    }


def _read(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def test_two_workers_resume_and_match_one_worker(tmp_path):
    shared = tmp_path / "checkpoints"  # one folder both workers read: a shared filesystem
    # first launch: the two workers stop after 3 of 5 epochs; the one-process run meanwhile
    single = {"one process": _start(tmp_path / "single.json", tmp_path / "single", 5, "none")}
    _finish({**_workers(tmp_path, 3, shared), **single})
    first = [_read(tmp_path / f"worker{i}_3.json") for i in range(2)]
    assert [w["chief"] for w in first] == [True, False]
    assert first[0]["saved_epochs"] == [0, 1, 2] and first[1]["saved_epochs"] == []
    # second launch: both resume from the chief's checkpoint of epoch 2 and run epochs 3-4
    _finish(_workers(tmp_path, 5, shared))
    chief, other = (_read(tmp_path / f"worker{i}_5.json") for i in range(2))
    one = _read(tmp_path / "single.json")
    assert chief["resumed_from_epoch"] == other["resumed_from_epoch"] == 3
    assert chief["saved_epochs"] == [3, 4] and other["saved_epochs"] == []
    assert (shared / "epoch_0004.json").is_file()
    assert chief["loss"] == other["loss"]  # all-reduced: one training, seen by both
    assert chief["loss"][-1] == pytest.approx(one["loss"][-1], rel=0.02)
    assert chief["f1@5"] == pytest.approx(one["f1@5"], abs=0.05)
    assert chief["hit@5"] == pytest.approx(one["hit@5"], abs=0.05)
    print(
        f"two workers: loss {chief['loss'][-1]:.4f}, F1@5 {chief['f1@5']:.4f}, Hit@5 "
        f"{chief['hit@5']:.3f}; one process: loss {one['loss'][-1]:.4f}, F1@5 "
        f"{one['f1@5']:.4f}, Hit@5 {one['hit@5']:.3f}"
    )


def test_multi_worker_without_tf_config_is_a_one_line_error(monkeypatch):
    """Without TF_CONFIG, "multi_worker" refuses (a worker training alone would leave the rest
    of its cluster waiting) and names the variable and the one-machine alternative."""
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="TF_CONFIG") as e:
        get_strategy("multi_worker")
    assert "\n" not in str(e.value) and "mirrored" in str(e.value)
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(ValueError, match="not JSON"):
        get_strategy("multi_worker")
