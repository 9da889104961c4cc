"""The benchmarks run on tiny sizes and print their figures (the feature bench on embedded
pictures: tests/test_feature_cache.py; on real photos: here)."""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from hashtag_kit.cli import UserError
from hashtag_kit.run import ENCODER_DECODER
from tools.bench import BENCHES, share_options
from tools.bench import main as bench_main

NUMBER = r"(\d+(?:\.\d+)?)"


def _rows(out: str, n_numbers: int) -> list[list[float]]:
    pattern = re.compile(r"^\s*" + r"\s+".join([NUMBER] * n_numbers) + r"\s*$")
    return [
        [float(v) for v in m.groups()] for line in out.splitlines() if (m := pattern.match(line))
    ]


def _train_rows(out: str) -> dict[str, list[float]]:
    """`bench train`'s rows: {loop: [batch, ms/step, examples/s, first epoch s]}."""
    loops = ("keras Model.fit", "train, checkpoints", "train, every epoch", "train, none")
    pattern = re.compile(r"^(" + "|".join(loops) + r")\s+" + r"\s+".join([NUMBER] * 4) + r"\s*$")
    rows = {
        m[1]: [float(v) for v in m.groups()[1:]]
        for line in out.splitlines()
        if (m := pattern.match(line))
    }
    assert set(rows) == set(loops), out
    return rows


def test_bench_train_prints_train_beside_a_plain_fit(capsys):
    assert bench_main(["train", "--tiny"]) == 0
    out = capsys.readouterr().out
    assert "== bench train" in out
    assert "data: random features" in out  # says what it ran on
    assert "ms/step" in out and "examples/s" in out
    rows = _train_rows(out)
    for batch, ms, per_s, first in rows.values():
        assert batch == 8 and ms > 0 and per_s > 0 and first > 0
        # the two figures are consistent (24 posts = 3 full batches): examples/s = batch /
        # (ms / 1000), up to the printed precision (ms/step to 0.05; examples/s to 0.05)
        assert abs(per_s - batch / (ms / 1000)) <= per_s * 0.05 / (ms - 0.05) + 0.1
    ratio = re.search(
        rf"best rounds: checkpoints {NUMBER}x, every epoch {NUMBER}x, none {NUMBER}x", out
    )
    fit = rows["keras Model.fit"][2]
    trains = ("train, checkpoints", "train, every epoch", "train, none")
    for got, loop in zip(ratio.groups(), trains, strict=True):
        # one round: its ratio is the ratio of the table's figures
        by_round = re.search(rf"^{loop} / keras Model.fit, by round: {NUMBER}$", out, re.M)
        assert float(by_round[1]) == float(got)
        assert float(got) == pytest.approx(rows[loop][2] / fit, rel=0.02, abs=0.01)


def test_bench_train_rotates_the_loops_and_keeps_each_loops_best_round(monkeypatch):
    """Each round runs the loops in a rotated order; each loop keeps its best round, and every
    round's own ratios are kept."""
    from tools.bench import training as bench_training

    speeds = [100, 90, 85, 80, 150, 140, 60, 70, 110, 100, 95, 120]
    calls, speed = [], iter(speeds)

    def fake_loop(name, *args):
        calls.append(name)
        return {"ms_per_step": 1.0, "examples_per_s": float(next(speed)), "first_epoch_s": 1.0}

    monkeypatch.setattr(bench_training, "_run_loop", fake_loop)
    fit, ckpt, every, none = bench_training.LOOPS
    r = bench_training.measure(None, None, None, 10, rounds=3)
    assert calls == [fit, ckpt, every, none, ckpt, every, none, fit, every, none, fit, ckpt]
    # rounds: fit 100/70/95, checkpoints 90/150/120, every epoch 85/140/110, none 80/60/100
    assert r["ratios"][ckpt] == pytest.approx([0.9, 150 / 70, 120 / 95])
    best = {name: f["examples_per_s"] for name, f in r["figures"].items()}
    assert best == {fit: 100.0, ckpt: 150.0, every: 140.0, none: 100.0}


def test_bench_recommend_prints_posts_per_s_for_each_beam(capsys):
    assert bench_main(["recommend", "--tiny", "--beam-widths", "1,2"]) == 0
    out = capsys.readouterr().out
    assert "== bench recommend" in out and "posts/s" in out
    assert "data: random weights and random features" in out
    rows = _rows(out, 8)
    assert [r[2] for r in rows] == [1, 2]  # one row per beam width
    for posts, k, _, seconds, per_s, forward, of_forward, _ in rows:
        assert posts == 16 and k == 7 and seconds > 0 and forward > 0
        assert abs(posts / per_s - seconds) <= 0.0005 + 0.01 * seconds  # seconds has 3 decimals
        assert abs(of_forward - per_s / forward) <= 0.01 * of_forward + 0.002
    assert [r[7] for r in rows] == [0.4, 0.0]  # the target at beam 1, none at 2
    assert "single: needs --run" in out


@pytest.mark.smoke
def test_benches_on_the_smoke_runs_cached_features(smoke_notebook, smoke_run_dir, capsys):
    """`--run`: notebook 02's trained model and notebook 01's cached features of the embedded
    smoke data, instead of random ones."""
    smoke_notebook(ENCODER_DECODER)
    run = str(smoke_run_dir)
    assert (
        bench_main(
            ["train", "--run", run, "--batch-size", "16", "--steps", "2", "--epochs", "1"]
            + ["--rounds", "1"]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert f"data: cached features of {run}" in out
    for batch, ms, per_s, _ in _train_rows(out).values():
        assert batch == 16 and ms > 0 and per_s > 0
    assert bench_main(["recommend", "--run", run, "--posts", "16", "--beam-widths", "1"]) == 0
    out = capsys.readouterr().out
    assert f"data: trained model and cached test features of {run}" in out
    ((posts, k, width, seconds, per_s, _, _, _),) = _rows(out, 8)
    assert 0 < posts <= 16 and width == 1 and per_s > 0
    assert re.search(r"ratio recommend / floors: \d+\.\d+x", out)


def test_bench_runs_from_the_checkout_through_the_command_line(tmp_path):
    """`python -m hashtag_kit bench features` (issue 3's spelling; the code lives in `tools/`,
    not installed) runs from the checkout's root, and elsewhere ends in one line."""
    repo = Path(__file__).resolve().parent.parent

    def bench(*args, cwd=repo):
        cmd = [sys.executable, "-m", "hashtag_kit", "bench", *args]
        env = {**os.environ, "PYTHONPATH": str(repo)}
        return subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, env=env, timeout=120)

    out = bench("--help")
    assert out.returncode == 0, out.stderr
    assert "{features,train,recommend,caption,cli,scale,loaders,all}" in out.stdout.replace(
        "\n", ""
    ).replace(" ", "")
    bad = bench("nope")
    assert bad.returncode == 2 and "invalid choice: 'nope'" in bad.stderr
    away = bench("features", cwd=tmp_path)
    assert away.returncode == 2 and "runs from the kit's checkout root" in away.stderr
    assert len(away.stderr.strip().splitlines()) == 1, away.stderr
    own = bench("features", "--help")  # a benchmark's own options, not the list again
    assert own.returncode == 0 and "--data-dir" in own.stdout, own.stderr


def test_a_benchmark_refuses_an_option_it_does_not_take(capsys):
    """A mistyped option is an error, never silently ignored (the run would measure the
    defaults), nor read as an abbreviation of another option."""
    for name, module in BENCHES.items():
        parser = importlib.import_module(module).build_parser()
        for wrong in (["--stepz", "2"], ["--re", "2"]):
            with pytest.raises(SystemExit) as stopped:
                parser.parse_args(wrong)
            assert stopped.value.code == 2, name
    with pytest.raises(SystemExit):
        bench_main(["train", "--tiny", "--stepz", "2"])
    out, err = capsys.readouterr()
    assert "unrecognized arguments: --stepz 2" in err and "== bench" not in out


def test_bench_all_gives_each_benchmark_only_its_own_options(capsys):
    modules = {name: importlib.import_module(module) for name, module in BENCHES.items()}
    argv = ["--tiny", "--run", "R", "--repeat", "2", "-k", "5", "--data-dir", "D"]
    shares = share_options(modules, argv)
    assert shares["train"] == ["--tiny", "--run", "R"]
    assert shares["recommend"] == shares["cli"] == ["--tiny", "--run", "R", "-k", "5"]
    assert shares["loaders"] == ["--repeat", "2", "--data-dir", "D"]  # not features' --repeats
    assert shares["features"] == ["--tiny", "--data-dir", "D"]
    with pytest.raises(UserError, match=r"no benchmark takes --stepz 2 \(see bench NAME"):
        bench_main(["all", "--tiny", "--stepz", "2"])
    with pytest.raises(SystemExit):  # a value one benchmark refuses, before any runs
        bench_main(["all", "--steps", "0"])
    out, err = capsys.readouterr()
    assert "== bench" not in out and "--steps: must be at least 1, got 0" in err


def test_bench_features_needs_the_folder_of_a_real_dataset(capsys):
    with pytest.raises(SystemExit) as stopped:
        bench_main(["features", "--dataset", "coco"])
    assert stopped.value.code == 2
    assert "--dataset coco needs --data-dir" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        bench_main(["features", "--dataset", "imagenet", "--data-dir", "."])
    assert "unknown dataset 'imagenet'" in capsys.readouterr().err


def test_bench_features_says_when_the_dataset_folder_is_missing(tmp_path, capsys):
    missing = tmp_path / "coco-mini"
    assert bench_main(["features", "--dataset", "coco", "--data-dir", str(missing)]) == 2
    err = capsys.readouterr().err
    assert f"error: dataset 'coco': {missing} does not exist" in err


@pytest.mark.realdata
def test_bench_features_on_real_photos(real_data, capsys):
    """`--dataset coco`: says which photos it ran on (count, stored sizes) and prints their
    extraction throughput (photos/s, megapixels/s and JPEG MB/s), against the 85% target."""
    coco = real_data / "coco-mini"
    assert bench_main(["features", "--tiny", "--dataset", "coco", "--data-dir", str(coco)]) == 0
    out = capsys.readouterr().out
    assert f"data: coco photos in {coco}, 32 posts with images, 32 readable" in out
    sizes = re.search(r"photo sizes \(as stored\): (\d+)x(\d+) \((\d+)\).*median (\d+)\)", out)
    width, height, count, median_side = (int(g) for g in sizes.groups())  # most common first
    assert width == 640 and 1 <= count <= 32 and 375 <= median_side <= 480
    pipe = float(re.search(r"pipeline \(extract_features\)\s+([\d.]+) images/s", out).group(1))
    rate, mpx_s, mb_s, mpx, kb = re.search(
        r"extraction throughput\s+([\d.]+) photos/s\s+([\d.]+) Mpx/s, ([\d.]+) MB/s of image "
        r"files \(coco: mean ([\d.]+) Mpx, (\d+) kB per photo\)",
        out,
    ).groups()
    assert float(rate) == pipe > 0
    assert 0.15 < float(mpx) < 0.35 and 50 < int(kb) < 400  # COCO-mini: ~640x480, ~160 kB
    assert abs(float(mpx_s) - pipe * float(mpx)) <= 0.05 + pipe * 0.005  # (rounding)
    assert abs(float(mb_s) - pipe * int(kb) / 1000) <= 0.05 + pipe * 0.005
    assert re.search(r"targets: pipeline >= 85% of bare: (met|NOT met);", out)


def test_network_work_counts_each_shards_padded_last_batch():
    """The pipeline's forward passes take whole batches: a shard's last batch is padded (one
    traced shape), which `bench features` reports beside the ratio to the bare forward; it
    counts them with the batching the pipeline itself uses (`image_batches`)."""
    from hashtag_kit.features.cache import SHARD_SIZE, image_batches

    def forward(n, bs):
        return len(image_batches(range(n), bs)) * bs

    assert forward(32, 32) == 32 and forward(33, 32) == 64 and forward(1, 8) == 8
    assert forward(239, 32) == 256  # COCO-mini
    assert forward(SHARD_SIZE + 1, 32) == SHARD_SIZE + 32  # a new shard starts a new batch
    assert forward(2 * SHARD_SIZE, 48) == 2 * 48 * -(-SHARD_SIZE // 48)
    keys = list(range(2 * SHARD_SIZE + 5))
    batches = image_batches(keys, 48)
    assert [k for _, b in batches for k in b] == keys  # every key once, in order
    assert {s for s, _ in batches} == {0, 1, 2} and all(len(b) <= 48 for _, b in batches)


def test_the_machine_line_names_the_cpu_and_the_extensions_tensorflow_uses(tmp_path):
    """Speed ratios depend on the CPU (with AVX-512 or AMX oneDNN makes the network several
    times faster), so every benchmark and run environment names it."""
    from hashtag_kit.run import cpu, environment

    info = tmp_path / "cpuinfo"
    info.write_text(
        "processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Processor\n"
        "flags\t\t: fpu sse2 avx avx2 avx512f avx512bw amx_bf16 amx_tile\n\n"
        "processor\t: 1\nmodel name\t: Intel(R) Xeon(R) Processor\nflags\t\t: fpu\n"
    )
    assert cpu(info) == "Intel(R) Xeon(R) Processor (AVX2, AVX-512, AMX)"
    info.write_text("model name\t: Old CPU\nflags\t\t: fpu sse2 avx\n")
    assert cpu(info) == "Old CPU"
    assert cpu(tmp_path / "absent")  # no /proc: the platform module's name
    assert environment()["cpu"] == cpu()


def test_loaders_bench_lists_the_datasets_it_did_not_find(tmp_path, capsys):
    """`bench loaders` on a folder without datasets: each real dataset listed as skipped."""
    assert bench_main(["loaders", "--data-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for name in ("coco", "flickr8k", "stanford_paragraphs", "harrison", "tweets"):
        assert re.search(rf"load {name}\s+skipped: .*not found", out), out
