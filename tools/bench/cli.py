"""Benchmark: a cold `recommend` command beside `import tensorflow`, and a warm recommendation
through the web server beside the bare forward pass.

    python -m hashtag_kit bench cli [--run outputs/default] [--image PHOTO] [--text TEXT]
        [--pairs 7] [--requests 50] [-k 7] [--skip-cold] [--skip-warm] [--tiny]

Both parts use one trained run (`--run`, notebook 02's model) and one post: `--image` and
`--text`, else the first test post of the run with a photo and a caption.

**Cold** (issue 18: within 1.4x): `--pairs` pairs of fresh processes, alternated, in the same
environment without `TF_CPP_MIN_LOG_LEVEL` (nor `HASHTAG_KIT_VERBOSE`): `python -c "import
tensorflow"`, then `python -m hashtag_kit recommend --run RUN --image PHOTO --text TEXT`. One
pair first warms the disk cache and is not counted. Prints each command's median, min and max
wall seconds, the ratio of the medians against the target, every pair's ratio, and the lines
each command wrote to stderr (the target is none for `recommend`: its stdout is the result).
Then one more fresh process does the command's steps one at a time and prints each one's wall
seconds (the import without the packages it skips, loading the model, building the image
encoder, its forward pass eagerly as the command runs it and compiled for comparison, the
text encoder the command runs in a child process meanwhile, the decode): where the time goes.

**Warm** (issue 18: at most 1.5x): the run's `Recommender` served by the web demo app
(`hashtag_kit.web_demo.create_app`, warmed up at start as `serve` does) through FastAPI's
in-process `TestClient` (the app's whole request path: multipart form, upload, recommend, JSON
answer; no socket), `--requests` POST /recommend requests of the photo (uploaded as a file)
and the caption, interleaved with as many bare forward passes for the same post: the
image encoder on the already decoded photo (centre crop and resize, forward) and the
encoder-decoder's `decode` (beam search) with the caption's features computed once beforehand.
Prints the p50 (and p90) of each, the ratio of the p50s against the target, and what the
server does beyond the bare pass (reading the upload, the text encoder) timed alone.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import hashtag_kit
from hashtag_kit.cli import integer
from hashtag_kit.data.images import load_image
from hashtag_kit.recommender import Recommender
from hashtag_kit.run import RunDir
from tools.bench.training import _machine

TARGET_COLD = 1.4  # cold recommend / import tensorflow
TARGET_WARM = 1.5  # server p50 / bare forward p50
#: environment variables a cold run must not inherit: the comparison is of what a user sees
UNSET = ("TF_CPP_MIN_LOG_LEVEL", "HASHTAG_KIT_VERBOSE")
DEFAULT_RUN = "outputs/default"


def pick_post(run_dir: str | Path, image: str | None, text: str | None) -> tuple[str, str]:
    """(photo path, caption): the ones given, else the run's first test post with both."""
    if image and text is not None:
        return str(image), text

    rd = RunDir(run_dir)
    try:
        parts = rd.split_posts("official" if "official" in rd.load_splits() else "random")
    except (FileNotFoundError, KeyError) as e:
        raise ValueError(f"{e}; give --image and --text") from None
    for post in parts.get("test", []) + parts.get("val", []):
        if post.has_image and post.has_text:
            return str(image or post.image), text if text is not None else post.text
    raise ValueError(f"{run_dir}: no test post with a photo and a caption; give --image/--text")


def cold_env() -> dict[str, str]:
    """This environment without `UNSET`, with this `hashtag_kit` first on the path (so the
    command runs the code being measured, whatever is installed)."""
    env = {k: v for k, v in os.environ.items() if k not in UNSET}
    root = str(Path(hashtag_kit.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join([root, *filter(None, [env.get("PYTHONPATH")])])
    return env


def _timed(cmd: list[str], env: dict, cwd: str) -> tuple[float, subprocess.CompletedProcess]:
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd, timeout=600)
    return time.perf_counter() - t0, done


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def measure_cold(run_dir: str, photo: str, text: str, pairs: int, warm_up: bool = True) -> dict:
    """Alternated fresh processes: `import tensorflow`, then the `recommend` command."""
    env, cwd = cold_env(), str(Path.cwd())
    base = [sys.executable, "-c", "import tensorflow"]
    rec = [sys.executable, "-m", "hashtag_kit", "recommend", "--run", run_dir]
    rec += ["--image", photo, "--text", text]
    times: dict[str, list[float]] = {"tf": [], "rec": []}
    stderr: dict[str, list[str]] = {"tf": [], "rec": []}
    stdout = ""
    for i in range(pairs + int(warm_up)):
        for key, cmd in (("tf", base), ("rec", rec)):
            seconds, done = _timed(cmd, env, cwd)
            if done.returncode != 0:
                raise RuntimeError(
                    f"{' '.join(cmd)} failed with status {done.returncode}:\n{done.stderr[-2000:]}"
                )
            if warm_up and i == 0:
                continue
            times[key].append(seconds)
            lines = _lines(done.stderr)
            if len(lines) > len(stderr[key]):  # the most any run of the command wrote
                stderr[key] = lines
            if key == "rec":
                stdout = done.stdout
    return {"times": times, "stderr": stderr, "stdout": stdout, "cmd": rec}


def _stats(xs: list[float]) -> tuple[float, float, float]:
    return statistics.median(xs), min(xs), max(xs)


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def print_cold(r: dict, pairs: int, warm_up: bool = True) -> None:
    tf_med, tf_min, tf_max = _stats(r["times"]["tf"])
    rec_med, rec_min, rec_max = _stats(r["times"]["rec"])
    first = "1 warm-up pair not counted" if warm_up else "no warm-up pair"
    print(f"cold: {pairs} pairs of fresh processes, alternated ({first}), no TF_CPP_MIN_LOG_LEVEL")
    print(f"{'command':<48} {'median s':>9} {'min s':>7} {'max s':>7} {'stderr lines':>13}")
    rows = (
        ('python -c "import tensorflow"', tf_med, tf_min, tf_max, r["stderr"]["tf"]),
        ("python -m hashtag_kit recommend (photo + text)", rec_med, rec_min, rec_max,
         r["stderr"]["rec"]),
    )  # fmt: skip
    for name, med, lo, hi, err in rows:
        print(f"{name:<48} {med:>9.2f} {lo:>7.2f} {hi:>7.2f} {len(err):>13}")
    ratio = rec_med / tf_med
    met = "met" if ratio <= TARGET_COLD else "NOT met"
    per_pair = ", ".join(
        f"{a / b:.2f}" for a, b in zip(r["times"]["rec"], r["times"]["tf"], strict=True)
    )
    print(f"ratio recommend / import tensorflow: {ratio:.2f}x (target <= {TARGET_COLD}x: {met})")
    print(f"per pair: {per_pair}")
    out = _lines(r["stdout"])
    print(f"recommend stdout: {len(out)} lines, first: {out[0] if out else '(none)'}")
    err = r["stderr"]["rec"]
    print("recommend stderr: " + ("nothing (target: no log line)" if not err else f"{err[:3]}"))


#: one fresh process doing what a cold `recommend` does, a step at a time (argv: run, photo, text)
STEPS_SCRIPT = r"""
import json, sys, time
run, photo, text = sys.argv[1:4]
steps = []
t = time.perf_counter()
def step(name):
    global t
    now = time.perf_counter()
    steps.append((name, now - t))
    t = now
from hashtag_kit.cli import OPTIONAL_IMPORTS, quiet, without_modules
with quiet(), without_modules(OPTIONAL_IMPORTS):
    import tensorflow, keras
    step("import tensorflow + keras, optional packages skipped")
    from tools.bench.cli import _bare_inputs
    from hashtag_kit.data.images import load_image
    from hashtag_kit.recommender import Recommender
    rec = Recommender.load(run, compiled=False)
    step("load the model (model.keras)")
    pixels = load_image(photo)
    enc = rec.image_encoder
    enc._models()
    step("build the image encoder with its weights")
    image = rec.encode_images([pixels])
    step("image encoder forward, eager (what the command does)")
    enc.encode(enc.prepare(pixels)[None], grid=False)
    step("image encoder forward, compiled (first call: tracing)")
    feats = _bare_inputs(rec, rec.encode_texts([text]))
    step("text encoder: load + encode (the command: in a child process)")
    feats["image"] = image
    rec.model.decode(feats, k=7, beam_width=3, exclude=[set()])
    step("decode (beam 3)")
print(json.dumps(steps))
"""


def measure_steps(run_dir: str, photo: str, text: str) -> list[tuple[str, float]]:
    """Wall seconds of each step of a cold `recommend`, in one fresh process."""
    cmd = [sys.executable, "-c", STEPS_SCRIPT, run_dir, photo, text]
    seconds, done = _timed(cmd, cold_env(), str(Path.cwd()))
    if done.returncode != 0:
        raise RuntimeError(f"the step-by-step run failed:\n{done.stderr[-2000:]}")

    return [tuple(x) for x in json.loads(done.stdout.strip().splitlines()[-1])]


def print_steps(steps: list[tuple[str, float]]) -> None:
    print("cold, step by step in one fresh process (after the pairs):")
    for name, seconds in steps:
        print(f"  {name:<62} {seconds:>6.2f} s")


# -- warm ---------------------------------------------------------------------------------------
def _bare_inputs(rec, text_feat):
    return {
        "image": None,
        "image_mask": np.ones(1, "float32"),
        "text": text_feat,
        "text_mask": np.ones(1, "float32"),
        "history": np.zeros((1, max(rec.history_len, 1)), "int32"),
        "existing": np.zeros((1, 1), "int32"),
    }


def measure_warm(run_dir: str, photo: str, text: str, requests: int, k: int) -> dict:
    """p50 of POST /recommend through the web demo server vs the bare forward pass."""
    # lazy: only the web demo needs it
    from fastapi.testclient import TestClient

    from hashtag_kit.web_demo import create_app

    bare_rec = Recommender.load(run_dir)  # the same encoders (built once per process)
    served = Recommender.load(run_dir)
    app = create_app(served)  # warms up: encoders built, one recommendation made
    pixels = load_image(photo)
    data = Path(photo).read_bytes()
    (text_feat,) = [bare_rec.encode_texts([text])]
    model = bare_rec.model

    def bare() -> tuple[float, float]:
        t0 = time.perf_counter()
        feats = _bare_inputs(bare_rec, text_feat)
        feats["image"] = bare_rec.encode_images([pixels])
        t1 = time.perf_counter()
        model.decode(feats, k=k, beam_width=3, exclude=[set()])
        return t1 - t0, time.perf_counter() - t1

    for _ in range(3):
        bare()
    t_bare, t_img, t_dec, t_srv = [], [], [], []
    with TestClient(app) as client:

        def request() -> dict:
            files = {"image": (Path(photo).name, data, "image/jpeg")}
            got = client.post("/recommend", files=files, data={"text": text, "k": str(k)})
            if got.status_code != 200:
                raise RuntimeError(f"POST /recommend: {got.status_code} {got.text[:300]}")
            return got.json()

        answer = request()  # the connection and the request path once before timing
        for _ in range(requests):
            img, dec = bare()
            t_img.append(img)
            t_dec.append(dec)
            t_bare.append(img + dec)
            t0 = time.perf_counter()
            request()
            t_srv.append(time.perf_counter() - t0)
    # what the server does beyond the bare pass, timed alone
    t_read, t_text = [], []
    for _ in range(min(requests, 20)):
        t0 = time.perf_counter()
        load_image(photo)
        t1 = time.perf_counter()
        served.encode_texts([text])
        t_read.append(t1 - t0)
        t_text.append(time.perf_counter() - t1)
    return {
        "bare": t_bare,
        "image": t_img,
        "decode": t_dec,
        "server": t_srv,
        "read": t_read,
        "text": t_text,
        "answer": answer,
        "shape": tuple(np.asarray(pixels).shape),
        "encoders": (bare_rec.config["image_encoder"]["name"], _text_name(bare_rec)),
    }


def _text_name(rec) -> str:
    return (rec.config.get("text_encoder") or {}).get("name", "none")


def print_warm(r: dict, requests: int) -> None:
    ms = 1000.0
    print(
        f"warm: {requests} POST /recommend (photo upload + caption, "
        f"k={len(r['answer']['hashtags'])})"
        " to the web demo app (in-process TestClient), interleaved with as many bare passes"
    )
    print(f"{'what':<52} {'p50 ms':>8} {'p90 ms':>8}")
    rows = (
        ("bare: image encoder on the decoded photo + decode", r["bare"]),
        ("  image encoder (centre crop, resize, forward)", r["image"]),
        ("  encoder-decoder decode (beam 3)", r["decode"]),
        ("server: POST /recommend, request to answer", r["server"]),
        ("  beyond bare: reading the photo (timed alone)", r["read"]),
        ("  beyond bare: text encoder (timed alone)", r["text"]),
    )
    for name, xs in rows:
        print(f"{name:<52} {_pct(xs, 0.5) * ms:>8.1f} {_pct(xs, 0.9) * ms:>8.1f}")
    ratio = _pct(r["server"], 0.5) / _pct(r["bare"], 0.5)
    met = "met" if ratio <= TARGET_WARM else "NOT met"
    print(f"ratio server / bare (p50): {ratio:.2f}x (target <= {TARGET_WARM}x: {met})")
    tags = ", ".join(h["tag"] for h in r["answer"]["hashtags"][:5])
    print(f"server answer: {tags}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m hashtag_kit bench cli", description=__doc__, allow_abbrev=False
    )
    parser.add_argument("--run", help=f"run directory with a trained model (default {DEFAULT_RUN})")
    parser.add_argument("--image", help="the photo (default: a test post of the run)")
    parser.add_argument("--text", help="the caption (default: that post's)")
    parser.add_argument("--pairs", type=integer(1), default=7, help="cold pairs (default 7)")
    parser.add_argument(
        "--requests", type=integer(1), default=50, help="warm requests (default 50)"
    )
    parser.add_argument("-k", type=integer(1), default=7)
    parser.add_argument("--skip-cold", action="store_true")
    parser.add_argument("--skip-warm", action="store_true")
    parser.add_argument("--tiny", action="store_true", help="1 pair, no warm-up, 3 requests")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.tiny:
        args.pairs, args.requests = 1, 3
    run = args.run or DEFAULT_RUN
    stage = Path(run) / "02_encoder_decoder_hashtags" / "model.keras"
    if not stage.is_file():
        print(f"skipped: {stage} not found (train a run first, or pass --run)")
        return 0
    try:
        photo, text = pick_post(run, args.image, args.text)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"machine: {_machine()}, Python {sys.version.split()[0]}")
    print(f"run: {run}; photo: {photo}; text: {text!r}")
    status = 0
    if not args.skip_cold:
        try:
            r = measure_cold(run, photo, text, args.pairs, warm_up=not args.tiny)
        except RuntimeError as e:
            print(f"cold: failed: {e}")
            status = 1
        else:
            print_cold(r, args.pairs, warm_up=not args.tiny)
            print_steps(measure_steps(run, photo, text))
    if not args.skip_warm:
        try:
            # lazy: only the web demo needs it
            import hashtag_kit.web_demo  # noqa: F401
        except ImportError as e:
            print(f"warm: skipped, the web demo is not available ({e})")
            return status
        r = measure_warm(run, photo, text, args.requests, args.k)
        print_warm(r, args.requests)
    if hasattr(os, "getloadavg"):  # other programs on the machine move every figure above
        print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    return status
