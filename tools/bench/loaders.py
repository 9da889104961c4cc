"""Benchmark: how fast the loaders, the hashtag text functions and image reading run.

    python -m hashtag_kit bench loaders [--data-dir ../shared/data] [--repeat 1]   # make bench

Loads every real dataset found under `--data-dir` (default `$HASHTAG_KIT_DATA`), then times
`extract_hashtags` + `strip_hashtags` on the TweetEval lines, `segment_hashtag` on HARRISON's
997 vocabulary tags, and `check_image` / `load_image(size=224)` on the COCO photos. Prints wall
and CPU seconds (CPU time is what the machine's other load does not inflate) and items/s.
Datasets that are not there are listed as skipped. Takes about 15 s on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

from hashtag_kit.cli import integer
from hashtag_kit.data import load_dataset
from hashtag_kit.data.images import check_image, load_image
from hashtag_kit.report import RunReport
from hashtag_kit.text import extract_hashtags, segment_hashtag, strip_hashtags

REAL = {  # dataset name -> folder under the data directory
    "coco": "coco-mini",
    "flickr8k": "flickr8k",
    "stanford_paragraphs": "stanford-paragraphs",
    "harrison": "harrison",
    "tweets": "tweeteval",
}


def _timed(fn, repeat: int = 1):
    best_wall, best_cpu, out = float("inf"), float("inf"), None
    for _ in range(repeat):
        w, c = time.perf_counter(), time.process_time()
        out = fn()
        best_wall = min(best_wall, time.perf_counter() - w)
        best_cpu = min(best_cpu, time.process_time() - c)
    return out, best_wall, best_cpu


def _row(what: str, n: int, wall: float, cpu: float) -> str:
    rate = n / cpu if cpu > 0 else float("inf")
    return f"{what:<44} {n:>8} {wall:>8.2f} {cpu:>8.2f} {rate:>12,.0f}"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m hashtag_kit bench loaders", description=__doc__, allow_abbrev=False
    )
    parser.add_argument("--data-dir", default=os.environ.get("HASHTAG_KIT_DATA", "../shared/data"))
    parser.add_argument("--repeat", type=integer(1), default=1, help="best of N runs")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    root = Path(args.data_dir)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs")
    print(f"data: {root.resolve()}")
    print(f"{'what':<44} {'items':>8} {'wall s':>8} {'cpu s':>8} {'items/cpu s':>12}")
    loaded = {}
    for name, folder in REAL.items():
        path = root / folder
        if not path.exists():
            print(f"{'load ' + name:<44} skipped: {path} not found")
            continue
        opts = {"require_hashtags": False} if name == "coco" else {}
        posts, wall, cpu = _timed(
            lambda n=name, p=path, o=opts: load_dataset(n, p, RunReport(), **o), args.repeat
        )
        loaded[name] = posts
        print(_row(f"load {name}", len(posts), wall, cpu))

    tweet_files = sorted((root / "tweeteval").glob("*_text.txt"))
    if tweet_files:
        lines = [line for f in tweet_files for line in f.read_text(encoding="utf-8").splitlines()]

        def tags_and_strip():
            for line in lines:
                extract_hashtags(line)
                strip_hashtags(line)

        _, wall, cpu = _timed(tags_and_strip, args.repeat)
        print(_row("extract_hashtags + strip_hashtags (tweets)", len(lines), wall, cpu))
    vocab_file = root / "harrison" / "vocab_index.txt"
    if vocab_file.exists():
        tags = [line.split()[0] for line in vocab_file.read_text().splitlines() if line.strip()]
        segment_hashtag("warmup")
        _, wall, cpu = _timed(lambda: [segment_hashtag(t) for t in tags], args.repeat)
        print(_row("segment_hashtag (HARRISON vocabulary)", len(tags), wall, cpu))
    images = [p.image for p in loaded.get("coco", []) if p.image]
    if images:
        _, wall, cpu = _timed(lambda: [check_image(i) for i in images], args.repeat)
        print(_row("check_image (COCO photos)", len(images), wall, cpu))
        _, wall, cpu = _timed(lambda: [load_image(i, size=224) for i in images], args.repeat)
        print(_row("load_image size=224 (COCO photos)", len(images), wall, cpu))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
