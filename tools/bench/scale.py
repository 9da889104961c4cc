"""Benchmark: memory and time of training and extraction as the number of posts grows (issue 17).

    python -m hashtag_kit bench scale            # N = 1,200 and 12,000: about 15 min on 2 cores
    python -m hashtag_kit bench scale --large    # also N = 120,000 (about 16 GB of shards)
    python -m hashtag_kit bench scale --tiny     # tiny sizes and models, about a minute (tests)

For each N, random features are written in the feature cache's own format (shards of 1280-d
pooled vectors with 7x7x1280 float16 grids, as EfficientNet-Lite0 gives, 512-d text vectors,
an index per kind; one post in 50 without an image) under `--dir`. Then, each in a fresh
subprocess so that each peak RSS is its own:

* one epoch of the encoder-decoder as notebook 02 trains it (`training.make_arrays` on the
  cached features, `training.train` with `input_mode="stream"`: pooled image and text vectors
  streamed by `feature_dataset`, never the grid), the second of two (the first traces the
  graph); and one epoch of `AttentionHashtagClassifier` (the grid and caption tokens) trained
  by `model.fit` on `feature_dataset`, timed after a two-batch warm-up;
* at the largest default N (12,000), the same epochs from in-memory arrays (`input_mode=
  "memory"` / `fit_inputs(..., mode="memory")`, what a small run uses): the streaming /
  in-memory throughput;
* extraction (`extract_features(..., grid=True, load=False)`, EfficientNet-Lite0) of N generated
  pictures, at N up to 12,000.

Targets: peak RSS of training and of extraction within 1.5x between the smallest and the largest
N (bounded by the shards in flight, not by N); seconds per 1,000 posts within 1.3x across N;
streaming >= 90% of the in-memory throughput at N = 12,000. The output ends with an
extrapolation to 1,000,000 posts from the largest N measured.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from hashtag_kit.data.posts import Post
from hashtag_kit.features import cache
from hashtag_kit.features.cache import extract_features, get_encoder, open_features
from hashtag_kit.run import cpu

SIZES, LARGE, TINY_SIZES = (1_200, 12_000), 120_000, (60, 240)
EXTRACT_MAX = 12_000  # extraction is timed at the sizes up to this
#: feature sizes (EfficientNet-Lite0, USE), vocabularies, and units of (encoder-decoder, attention)
FULL = {"image": 1280, "grid": (7, 7, 1280), "text": 512, "tags": 1000, "words": 5000}
FULL["units"] = (256, 128)
TINY = {"image": 32, "grid": (2, 2, 16), "text": 16, "tags": 20, "words": 50, "units": (8, 8)}
BATCH, HISTORY, TAGS_PER_POST, MAX_LEN = 64, 8, 6, 24
NO_IMAGE_EVERY = 50
TARGET_RSS, TARGET_TIME, TARGET_STREAM = 1.5, 1.3, 0.90
MODELS = {"encdec": "encoder-decoder", "attention": "attention classifier"}


def write_synthetic(run_dir, n: int, dims: dict = FULL, seed: int = 0) -> None:
    """Random features of posts `post0..` in the cache's format: shards and an index per kind.

    Memory holds one shard at a time. Every `NO_IMAGE_EVERY`-th post has no image (mask 0).
    """
    run_dir, rng = Path(run_dir), np.random.default_rng(seed)
    ids = [f"post{i}" for i in range(n)]
    for kind in ("image", "text"):
        grid = dims["grid"] if kind == "image" else None
        info = {
            "name": f"synthetic_{kind}",
            "weights": "random",
            "digest": "0" * 64,
            "dim": dims[kind],
            "grid_shape": list(grid) if grid else None,
            "id": f"synthetic-{kind}",
            "kind": kind,
        }
        store = cache.ShardStore(run_dir / "features" / info["id"])
        keys = [
            None if kind == "image" and i % NO_IMAGE_EVERY == NO_IMAGE_EVERY - 1 else f"{i:032x}"
            for i in range(n)
        ]
        present = [k for k in keys if k is not None]
        for a in range(0, len(present), cache.SHARD_SIZE):
            chunk = present[a : a + cache.SHARD_SIZE]
            pooled = rng.standard_normal((len(chunk), dims[kind]), np.float32)
            g = None
            if grid:
                g = rng.standard_normal((len(chunk), grid[0] * grid[1], grid[2]), np.float32)
                g = g.astype(np.float16)
            store.add(chunk, pooled, g)
        cache.write_index(run_dir, info, store.path, ids, keys, grid is not None)


def _posts_data(n: int, dims: dict, seed: int = 1) -> dict:
    """Per-post tag ids (n, TAGS_PER_POST), histories and caption tokens of the benchmark."""
    # lazy: TensorFlow / Keras take seconds to import
    from hashtag_kit.models.encoder_decoder import N_SPECIAL

    rng = np.random.default_rng(seed)
    count = rng.integers(1, TAGS_PER_POST + 1, n)
    tags = rng.integers(0, dims["tags"], (n, TAGS_PER_POST)).astype("int32")
    tags[np.arange(TAGS_PER_POST) >= count[:, None]] = -1  # -1 = no tag
    return {
        "tags": tags,
        "history": rng.integers(N_SPECIAL, N_SPECIAL + dims["tags"], (n, HISTORY), "int32"),
        "tokens": rng.integers(1, dims["words"], (n, MAX_LEN), "int32"),
    }


def _attention_inputs(run: Path, dims: dict):
    """(model, ids, sources, arrays, targets) of the attention classifier on the synthetic run."""
    # lazy: TensorFlow / Keras take seconds to import
    import keras

    from hashtag_kit.models import AttentionHashtagClassifier
    from hashtag_kit.models.attention_classifier import compile_classifier

    keras.utils.set_random_seed(0)
    img = open_features(run, "image")
    data = _posts_data(len(img), dims)
    tags = data["tags"]

    def multi_hot(pos):  # built block by block: (N, tags) float32 never exists
        y = np.zeros((len(pos), dims["tags"]), "float32")
        rows, cols = np.nonzero(tags[pos] >= 0)
        y[rows, tags[pos][rows, cols]] = 1.0
        return y

    model = AttentionHashtagClassifier(dims["tags"], dims["words"], units=dims["units"][1])
    compile_classifier(model)
    return model, img.ids, {"regions": (img, "grid")}, {"tokens": data["tokens"]}, multi_hot


def _encdec_child(run: Path, mode: str, dims: dict) -> dict:
    """The encoder-decoder through notebook 02's path: `make_arrays` then `train`."""
    # lazy: TensorFlow / Keras take seconds to import
    from hashtag_kit.training import StepTimer, TrainConfig, make_arrays, make_tokens, train

    img, txt = open_features(run, "image"), open_features(run, "text")
    data = _posts_data(len(img), dims)
    tokens = make_tokens([f"t{i}" for i in range(dims["tags"])])
    posts = [
        Post(id=i, hashtags=[f"t{t}" for t in row if t >= 0])
        for i, row in zip(img.ids, data["tags"], strict=True)
    ]
    units = dims["units"][0]
    config = TrainConfig(
        units=units,
        embed_dim=units // 2,
        epochs=2,  # the first traces the graph; the second is timed
        batch_size=BATCH,
        learning_rate=1e-3,
        history_len=HISTORY,
        max_tags=TAGS_PER_POST,
    )
    t0 = time.perf_counter()
    feats = (img, txt) if mode == "stream" else (img.load(grid=False), txt.load(grid=False))
    arrays = make_arrays(posts, *feats, tokens, data["history"], TAGS_PER_POST)
    setup = time.perf_counter() - t0
    timer = StepTimer()
    train(config, arrays, None, len(tokens), callbacks=[timer])
    return {"setup_s": setup, "epoch_s": timer.epochs[-1]}


def _train_child(run: Path, model_name: str, mode: str, dims: dict) -> dict:
    # lazy: TensorFlow / Keras take seconds to import
    from hashtag_kit.features.stream import fit_inputs

    if model_name == "encdec":
        return _encdec_child(run, mode, dims)
    model, ids, sources, arrays, targets = _attention_inputs(run, dims)
    m = BATCH + BATCH // 2  # a full and a smaller batch, as the epoch has: one trace
    warm_y = targets if callable(targets) else targets[:m]
    warm_arrays = {k: v[:m] for k, v in arrays.items()}
    warm = fit_inputs(sources, ids[:m], warm_arrays, warm_y, batch_size=BATCH, mode=mode)
    model.fit(**warm, epochs=1, verbose=0)  # traces the training step
    t0 = time.perf_counter()
    kw = fit_inputs(sources, ids, arrays, targets, batch_size=BATCH, mode=mode)
    t1 = time.perf_counter()
    model.fit(**kw, epochs=1, verbose=0)
    return {"setup_s": t1 - t0, "epoch_s": time.perf_counter() - t1}


def _extract_child(work: Path, n: int) -> dict:
    rng = np.random.default_rng(n)
    pictures = work / "pictures"
    pictures.mkdir(parents=True, exist_ok=True)
    posts = []
    for i in range(n):  # smooth random colours: distinct files, quick to decode
        small = Image.fromarray(rng.integers(0, 256, (6, 6, 3), dtype=np.uint8))
        path = pictures / f"{i}.jpg"
        small.resize((96, 96), Image.BILINEAR).save(path, quality=90)
        posts.append(Post(id=f"post{i}", image=str(path)))
    enc = get_encoder("image", "efficientnet_lite0")
    size = enc.input_size  # built and traced before timing: loading is not extraction
    enc.encode(np.zeros((BATCH // 2, size, size, 3), np.uint8))  # extraction's batch size
    t0 = time.perf_counter()
    extract_features(work, posts, "image", enc, grid=True, load=False, progress=False)
    return {"epoch_s": time.perf_counter() - t0}


def _child(args) -> int:
    dims = TINY if args.tiny else FULL
    work = Path(args.work)
    if args.child == "extract":
        out = _extract_child(work, args.n)
    else:
        out = _train_child(work, args.child, args.mode, dims)
    out["peak_rss"] = _peak_rss()
    print(json.dumps(out))
    return 0


def _run_child(*argv) -> dict:
    """Run this module in a fresh process (at the parent's priority); its JSON figures."""
    cmd = [sys.executable, "-m", "tools.bench.scale", *map(str, argv)]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", cache.CACHE_ENV: ""}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _gb(b: float) -> str:
    return f"{b / 1e9:.2f} GB" if b >= 1e9 else f"{b / 1e6:.0f} MB"


def _ratio(values) -> float:
    return max(values) / min(values)


def _verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m hashtag_kit bench scale", description=__doc__, allow_abbrev=False
    )
    parser.add_argument("--large", action="store_true", help=f"also N = {LARGE:,} (opt-in: disk)")
    parser.add_argument("--tiny", action="store_true", help="tiny sizes and models (tests)")
    parser.add_argument("--dir", help="work folder for the shards (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--child", choices=["encdec", "attention", "extract"], help="internal")
    parser.add_argument("--mode", default="stream", help="internal: stream|memory")
    parser.add_argument("--n", type=int, help="internal: posts")
    parser.add_argument("--work", help="internal: the child's folder")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.child:
        return _child(args)
    dims = TINY if args.tiny else FULL
    sizes = list(TINY_SIZES if args.tiny else SIZES) + ([LARGE] if args.large else [])
    base = Path(args.dir or tempfile.mkdtemp(prefix="hashtag_kit_scale_"))
    tiny = ["--tiny"] if args.tiny else []
    per_post = {  # bytes of one post's cached features
        "grid": int(np.prod(dims["grid"])) * 2,
        "pooled": dims["image"] * 4 + dims["text"] * 4,
    }
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"machine: {cpu()}, {os.cpu_count()} CPU cores, load average {load:.1f}; work folder {base}"
    )
    print(
        f"features per post: pooled {dims['image']}-d + text {dims['text']}-d float32, grid "
        f"{'x'.join(map(str, dims['grid']))} float16 "
        f"({_gb(1000 * per_post['grid'])} per 1,000 posts)"
        f"; {dims['tags']} tags, batch {BATCH}"
    )
    rows, extract = [], {}
    try:
        for n in sizes:
            run = base / f"n{n}"
            t0 = time.perf_counter()
            write_synthetic(run, n, dims)
            disk = sum(p.stat().st_size for p in run.rglob("shard-*.npz"))
            print(f"N={n:,}: wrote {_gb(disk)} of shards in {time.perf_counter() - t0:.1f} s")
            modes = ["stream"] + (["memory"] if n == sizes[min(1, len(sizes) - 1)] else [])
            for model in MODELS:
                for mode in modes:
                    r = _run_child("--child", model, "--mode", mode, "--work", run, *tiny)
                    rows.append({"model": model, "n": n, "mode": mode, **r})
            if n <= (max(TINY_SIZES) if args.tiny else EXTRACT_MAX):
                pics = base / f"extract{n}"
                extract[n] = _run_child("--child", "extract", "--n", n, "--work", pics, *tiny)
                shutil.rmtree(pics, ignore_errors=True)
            if not args.keep:
                shutil.rmtree(run, ignore_errors=True)
    finally:
        if not args.keep and not args.dir:
            shutil.rmtree(base, ignore_errors=True)
    _report(rows, extract, sizes, per_post)
    return 0


def _report(rows, extract, sizes, per_post) -> None:
    print(
        f"\n{'':<22}{'N':>9}  {'input':<7}{'peak RSS':>10}{'epoch s':>9}{'s/1000 posts':>14}"
        f"{'setup s':>9}"
    )
    for r in rows:
        print(
            f"{MODELS[r['model']]:<22}{r['n']:>9,}  {r['mode']:<7}{_gb(r['peak_rss']):>10}"
            f"{r['epoch_s']:>9.1f}{1000 * r['epoch_s'] / r['n']:>14.2f}{r['setup_s']:>9.1f}"
        )
    for n, r in extract.items():
        print(
            f"{'extraction (grid)':<22}{n:>9,}  {'-':<7}{_gb(r['peak_rss']):>10}"
            f"{r['epoch_s']:>9.1f}{1000 * r['epoch_s'] / n:>14.2f}"
        )
    checks = []
    for model in MODELS:
        st = [r for r in rows if r["model"] == model and r["mode"] == "stream"]
        rss, per = _ratio([r["peak_rss"] for r in st]), _ratio([r["epoch_s"] / r["n"] for r in st])
        checks.append(
            f"{MODELS[model]}: peak RSS {rss:.2f}x ({_verdict(rss <= TARGET_RSS)}), "
            f"s/1000 posts {per:.2f}x ({_verdict(per <= TARGET_TIME)})"
        )
        mem = [r for r in rows if r["model"] == model and r["mode"] == "memory"]
        if mem:
            same = next(r for r in st if r["n"] == mem[0]["n"])
            share = mem[0]["epoch_s"] / same["epoch_s"]
            checks.append(
                f"{MODELS[model]} streaming at N={same['n']:,}: {share:.0%} of the in-memory "
                f"throughput ({_verdict(share >= TARGET_STREAM)}; in-memory peak RSS "
                f"{_gb(mem[0]['peak_rss'])})"
            )
    if len(extract) > 1:
        rss = _ratio([r["peak_rss"] for r in extract.values()])
        per = _ratio([r["epoch_s"] / n for n, r in extract.items()])
        checks.append(
            f"extraction: peak RSS {rss:.2f}x ({_verdict(rss <= TARGET_RSS)}), "
            f"s/1000 pictures {per:.2f}x ({_verdict(per <= TARGET_TIME)})"
        )
    print(
        f"\ntargets (smallest -> largest N; RSS <= {TARGET_RSS}x, s/1000 <= {TARGET_TIME}x, "
        f"streaming >= {TARGET_STREAM:.0%}):"
    )
    for c in checks:
        print("  " + c)
    _extrapolate(rows, extract, sizes, per_post)


def _extrapolate(rows, extract, sizes, per_post, n: int = 1_000_000) -> None:
    """What 1,000,000 posts with grids take, from the largest N measured."""
    big = max(sizes)
    grid, pooled = per_post["grid"] * n, per_post["pooled"] * n
    print(f"\nextrapolation to {n:,} posts with grids (from N={big:,}):")
    print(f"  disk: {_gb(grid)} of float16 grids + {_gb(pooled)} of pooled vectors")
    for model in MODELS:
        r = next(r for r in rows if r["model"] == model and r["n"] == big and r["mode"] == "stream")
        hours = r["epoch_s"] / big * n / 3600
        read = (per_post["grid"] if model == "attention" else per_post["pooled"]) * big
        rate = read / r["epoch_s"]
        print(
            f"  {MODELS[model]}: one epoch ~{hours:.1f} h on this machine; peak RSS stays "
            f"~{_gb(r['peak_rss'])} streamed (in memory its features alone would need "
            f"{_gb(read / big * n)}); reads {rate / 1e6:.0f} MB/s of shards"
        )
    if extract:
        m = max(extract)
        hours = extract[m]["epoch_s"] / m * n / 3600
        print(
            f"  extraction: ~{hours:.1f} h on this machine (split it: `features --shard i/k` on "
            f"k machines, then `--merge`); peak RSS ~{_gb(extract[m]['peak_rss'])}"
        )
    print(
        "  needs: the disk above (the page cache will not hold it: shards are read at the rates "
        "above, sequentially per shard), a few GB of RAM whatever N, and for time, more "
        "cores or accelerators (multi-worker training, sharded extraction)"
    )


def _peak_rss() -> int:
    """This process's peak resident memory, bytes. Linux's VmHWM belongs to the process's own
    memory map (getrusage's ru_maxrss also keeps a forking parent's peak across exec, so a
    child started from a large process, e.g. pytest, would report the parent's)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


if __name__ == "__main__":
    sys.exit(main())
