"""The training and recommend benchmarks run on tiny sizes and print their figures."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from hashtag_kit.bench import main as bench_main
from hashtag_kit.run import ENCODER_DECODER

NUMBER = r"(\d+(?:\.\d+)?)"


def _rows(out: str, n_numbers: int) -> list[list[float]]:
    pattern = re.compile(r"^\s*" + r"\s+".join([NUMBER] * n_numbers) + r"\s*$")
    return [
        [float(v) for v in m.groups()] for line in out.splitlines() if (m := pattern.match(line))
    ]


def test_bench_train_prints_ms_per_step_and_examples_per_s(capsys):
    assert bench_main(["train", "--tiny"]) == 0
    out = capsys.readouterr().out
    assert "== bench train" in out
    assert "data: random features" in out  # says what it ran on
    assert "ms/step" in out and "examples/s" in out
    (row,) = _rows(out, 4)
    batch, ms, per_s, _ = row
    assert batch == 8 and ms > 0 and per_s > 0
    # the two figures are consistent: examples/s = batch / (ms / 1000), up to the printed
    # precision (ms/step to 0.05, so a relative error of 0.05 / ms; examples/s to 0.05)
    assert abs(per_s - batch / (ms / 1000)) <= per_s * 0.05 / (ms - 0.05) + 0.1


def test_bench_recommend_prints_posts_per_s_for_each_beam(capsys):
    assert bench_main(["recommend", "--tiny", "--beam-widths", "1,2"]) == 0
    out = capsys.readouterr().out
    assert "== bench recommend" in out and "posts/s" in out
    assert "data: random weights and random features" in out
    rows = _rows(out, 5)
    assert [r[2] for r in rows] == [1, 2]  # one row per beam width
    for posts, k, _, seconds, per_s in rows:
        assert posts == 16 and k == 7 and seconds > 0
        assert abs(per_s - posts / seconds) <= 0.02 * per_s + 1


@pytest.mark.smoke
def test_benches_on_the_smoke_runs_cached_features(smoke_notebook, smoke_run_dir, capsys):
    """`--run`: notebook 02's trained model and notebook 01's cached features of the embedded
    smoke data, instead of random ones."""
    smoke_notebook(ENCODER_DECODER)
    run = str(smoke_run_dir)
    assert bench_main(["train", "--run", run, "--batch-size", "16", "--steps", "2"]) == 0
    out = capsys.readouterr().out
    assert f"data: cached features of {run}" in out
    ((batch, ms, per_s, _),) = _rows(out, 4)
    assert batch == 16 and ms > 0 and per_s > 0
    assert bench_main(["recommend", "--run", run, "--posts", "16", "--beam-widths", "1"]) == 0
    out = capsys.readouterr().out
    assert f"data: trained model and cached test features of {run}" in out
    ((posts, k, width, seconds, per_s),) = _rows(out, 5)
    assert 0 < posts <= 16 and width == 1 and per_s > 0


def test_bench_package_runs_as_a_module():
    """`python -m hashtag_kit.bench features` (the issue's spelling) reaches the same command."""
    repo = Path(__file__).resolve().parent.parent

    def bench(*args):
        cmd = [sys.executable, "-m", "hashtag_kit.bench", *args]
        return subprocess.run(cmd, capture_output=True, text=True, cwd=repo, timeout=120)

    out = bench("--help")
    assert out.returncode == 0, out.stderr
    assert "{features,train,recommend,loaders,all}" in out.stdout
    bad = bench("nope")
    assert bad.returncode == 2 and "invalid choice: 'nope'" in bad.stderr
