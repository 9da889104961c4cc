"""The studies after notebook 05, run as notebooks: `python -m hashtag_kit evaluate tweets|fusion`.

`fusion` executes notebook 06 (the seed study of notebook 02's fusions; its protocol in
`hashtag_kit.evaluation.seed_study`), `tweets` notebook 07 (TweetEval; its protocol in
`hashtag_kit.evaluation.tweets`), each into `<out>/executed/`, and prints what the notebook
wrote to `<out>/<stage>/metrics.json`. `make evaluate-fusion` and `make evaluate-tweets` run
them. Like `reproduce`, they run from a checkout's root: the notebooks and this module (the
repository's tooling) are not installed with the package. `evaluate flickr8k` (a finished
Flickr8k run scored on a split's photos) is the library's own: `hashtag_kit.evaluation.flickr8k`.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from hashtag_kit.cli import UserError, integer, parser
from hashtag_kit.evaluation import seed_study, tweets
from hashtag_kit.evaluation.ranking import DEFAULT_KS
from hashtag_kit.run import read_json
from tools.reproduce import FUSION_STUDY, TWEETEVAL, describe_failure, execute


def run_study(run: str | Path, out: str | Path, seeds, fusions) -> str:
    """`make evaluate-fusion`: check the study and notebook 02's settings (ValueError or
    FileNotFoundError, one line), execute notebook 06 into `out`; returns its summary."""
    seeds, fusions = seed_study.check_study(seeds, fusions)
    seed_study.notebook_settings(run)
    out = Path(out)
    params = {"RUN_DIR": str(Path(run).resolve()), "OUT_DIR": str(out.resolve())}
    execute(FUSION_STUDY, out, "full", {**params, "SEEDS": seeds, "FUSIONS": fusions})
    metrics = out / seed_study.STAGE / "metrics.json"
    extra = read_json(metrics)["extra"]
    summary = seed_study.format_summary(extra["summary"], extra["pairs"])
    return f"{summary}\nwrote {metrics} and {out / 'executed'}"


def run_evaluation(
    data: str | Path | None,
    out: str | Path,
    limit: int = tweets.DEFAULT_LIMIT,
    epochs: int = tweets.DEFAULT_EPOCHS,
    min_tag_freq: int = tweets.DEFAULT_MIN_TAG_FREQ,
    seed: int = 0,
    k: int = 5,
) -> str:
    """`make evaluate-tweets`: execute notebook 07 into `out` and return its Hit@K summary.

    `data` is the real-data folder holding tweeteval/ (default $HASHTAG_KIT_DATA or
    ../shared/data); FileNotFoundError when it has no TweetEval files.
    """
    data = Path(data or os.environ.get("HASHTAG_KIT_DATA", "../shared/data"))
    if not (data / "tweeteval").is_dir() and not list(data.glob("*_text.txt")):
        raise FileNotFoundError(
            f"{data / 'tweeteval'} not found: pass --data <folder holding tweeteval/> "
            "or set HASHTAG_KIT_DATA"
        )
    out = Path(out)
    params = {"DATA_DIR": str(data.resolve()), "LIMIT": limit, "EPOCHS": epochs}
    params.update(MIN_TAG_FREQ=min_tag_freq, SEED=seed, K=k)
    execute(TWEETEVAL, out, "full", params)
    path = out / tweets.STAGE / "metrics.json"
    metrics = read_json(path)
    lines = [
        f"{name:<30} Hit@{k} = {m['ranking']['hit_rate'][str(k)]:.3f}"
        for name, m in metrics["models"].items()
    ]
    seconds = metrics["extra"]["protocol"]["seconds"]
    return "\n".join([*lines, f"wrote {path} ({seconds} s)"])


def _ints(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from e


def _names(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


def main(argv: list[str]) -> int:
    """`python -m hashtag_kit evaluate tweets|fusion [options]`."""
    ap = parser("evaluate", __doc__)
    ap.add_argument(
        "name",
        choices=["tweets", "fusion"],
        help="which evaluation: tweets (TweetEval, real data; notebook 07) or fusion (seed study "
        "of notebook 02's fusions; notebook 06); flickr8k (a finished Flickr8k run on a split's "
        "photos) comes first with its own options: `evaluate flickr8k --help`",
    )
    ap.add_argument(
        "--data",
        type=Path,
        default=None,
        help="real-data folder holding tweeteval/ (default $HASHTAG_KIT_DATA or ../shared/data)",
    )
    ap.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output folder (default outputs/tweets-eval or outputs/fusion-study)",
    )
    ap.add_argument(
        "--limit",
        type=integer(0),
        default=tweets.DEFAULT_LIMIT,
        help="training tweets to use, val/test get limit // 4 (0 = all; default %(default)s)",
    )
    ap.add_argument(
        "--min-tag-freq",
        type=integer(1),
        default=tweets.DEFAULT_MIN_TAG_FREQ,
        help="vocabulary: tags used this often in train (default %(default)s)",
    )
    ap.add_argument(
        "--epochs",
        type=integer(1),
        default=tweets.DEFAULT_EPOCHS,
        help="epochs (best on val loss kept)",
    )
    ap.add_argument("--seed", type=integer(0), default=0)
    ap.add_argument(
        "-k", type=integer(1, max(DEFAULT_KS)), default=5, help="the K of the printed Hit@K"
    )
    ap.add_argument(
        "--run",
        type=Path,
        default=Path("outputs/default"),
        help="fusion: run directory where notebooks 01 and 02 ran (default %(default)s)",
    )
    ap.add_argument(
        "--seeds",
        type=_ints,
        default=list(seed_study.DEFAULT_SEEDS),
        help="fusion: comma-separated seeds (default 0,1,2,3,4)",
    )
    ap.add_argument(
        "--fusions",
        type=_names,
        default=list(seed_study.VARIANTS),
        help="fusion: comma-separated fusions, and image-only for the reference model trained "
        "on the image alone (default weighted,sum,concat,image-only)",
    )
    args = ap.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    default = "outputs/fusion-study" if args.name == "fusion" else "outputs/tweets-eval"
    out = args.out if args.out is not None else Path(default)
    try:
        if args.name == "fusion":
            print(run_study(args.run, out, args.seeds, args.fusions))
        else:
            print(
                run_evaluation(
                    args.data, out, args.limit, args.epochs, args.min_tag_freq, args.seed, args.k
                )
            )
    except (FileNotFoundError, ValueError) as e:
        raise UserError(str(e)) from None
    except Exception as e:  # a cell of the notebook failed (papermill's error): as reproduce says
        if getattr(e, "ename", None) is None:
            raise
        print(f"FAILED; the executed notebook with the error is in {out / 'executed'}")
        print(describe_failure(e))
        return 1
    return 0
