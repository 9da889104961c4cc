"""Command line: `python -m hashtag_kit [-v] <command> [options]` (also installed as `hashtag-kit`).

Every command's options are defined here (the library modules take plain arguments); a command
imports the modules it drives only when it runs, so `--help` and the lean `recommend` stay fast.
A mistake in a command's input (`UserError`, including argparse's) ends it with one line and
exit status 2.
A file error (`OSError`: disk full, no permission, read-only folder) that a command does not
handle itself ends it with one line naming the path and what to do, and exit status 1; cached
features a command needs and cannot find (`hashtag_kit.run.MissingFeaturesError`) with one line
naming the `features` command that computes them, and exit status 2.
`python -m hashtag_kit <command> --help` shows a command's options.

The command line is quiet (`quiet`): TensorFlow's C++ and absl log lines and the Python warnings
and log records of the libraries below the kit are silenced for the command's duration (a
`TF_CPP_MIN_LOG_LEVEL` you set yourself is kept, and also applied to the lines absl writes while
TensorFlow loads: `hashtag_kit.library_logs`). `-v`/`--verbose` before the command (or after
`recommend`), or `HASHTAG_KIT_VERBOSE=1`, shows them. The kit's own messages are unchanged, and
importing `hashtag_kit` as a library changes none of this.

Lean commands (`LEAN_COMMANDS`: `recommend`) skip the packages TensorFlow and Keras import at
start-up only when installed (`OPTIONAL_IMPORTS`), as if they were not installed.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import logging
import os
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

from hashtag_kit.files import describe_os_error
from hashtag_kit.library_logs import QuietImport

#: commands whose process never needs what Keras imports optionally (`OPTIONAL_IMPORTS`)
LEAN_COMMANDS = frozenset({"recommend"})
#: packages TensorFlow and Keras import at start-up only when installed, for features a lean
#: command never uses: scikit-learn (Keras's wrappers), pandas (`fit` on data frames), matplotlib
#: (`keras.visualization`), IPython (notebook display), scipy (sparse inputs to `tf.keras` v1)
OPTIONAL_IMPORTS = ("sklearn", "pandas", "matplotlib", "IPython", "scipy")
#: commands that take `-v/--verbose` among their own options
VERBOSE_OPTION_COMMANDS = frozenset({"recommend"})
VERBOSE_ENV = "HASHTAG_KIT_VERBOSE"
#: environment set (unless already set) while a quiet command runs: TensorFlow's C++ logging
#: (3: errors too; a failure still ends in a Python exception and the kit's one-line message)
QUIET_ENV = {"TF_CPP_MIN_LOG_LEVEL": "3", "GRPC_VERBOSITY": "ERROR"}
#: Python loggers of the libraries below the kit, raised to ERROR while a quiet command runs
QUIET_LOGGERS = ("tensorflow", "keras", "h5py", "jax", "PIL", "matplotlib")
#: modules whose Python warnings a quiet command hides (the kit's own warnings stay)
QUIET_WARNING_MODULES = r"(tensorflow|keras|tf_keras|absl|h5py|google|ml_dtypes|optree|numpy)(\.|$)"


def _usage() -> str:
    lines = ["usage: python -m hashtag_kit [-v] <command> [options]", "", "commands:"]
    lines += [f"  {name:<11} {doc}" for name, (_, doc) in COMMANDS.items()]
    lines += ["", "-v, --verbose  show TensorFlow's and the libraries' log lines and warnings"]
    return "\n".join(lines)


@contextlib.contextmanager
def _environ(values: dict[str, str]) -> Iterator[None]:
    """`values` set in `os.environ` for the block, then the variables' previous state restored."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextlib.contextmanager
def quiet(verbose: bool = False) -> Iterator[None]:
    """Silence TensorFlow, absl and library logging for the `with` block, then restore it:
    `QUIET_ENV` set (C++ logging; effective only before TensorFlow is first imported),
    `QUIET_LOGGERS` and absl at ERROR, `QUIET_WARNING_MODULES`' warnings ignored. With
    `verbose` it does nothing."""
    if verbose:
        yield
        return
    with _environ({k: os.environ.get(k, v) for k, v in QUIET_ENV.items()}):
        hold = None
        if "tensorflow" not in sys.modules:
            hold = QuietImport("tensorflow")
            sys.meta_path.insert(0, hold)
        loggers = [logging.getLogger(name) for name in QUIET_LOGGERS]
        levels = [lg.level for lg in loggers]
        for lg in loggers:
            lg.setLevel(logging.ERROR)
        absl_logging, absl_level = None, None
        with contextlib.suppress(ImportError):
            # lazy: absl comes with TensorFlow
            from absl import logging as absl_logging

            absl_level = absl_logging.get_verbosity()
            absl_logging.set_verbosity(absl_logging.ERROR)
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", module=QUIET_WARNING_MODULES)
                yield
        finally:
            if hold in sys.meta_path:
                sys.meta_path.remove(hold)
            for lg, level in zip(loggers, levels, strict=True):
                lg.setLevel(level)
            if absl_logging is not None:
                absl_logging.set_verbosity(absl_level)


@contextlib.contextmanager
def without_modules(names: tuple[str, ...]) -> Iterator[None]:
    """Make `import name` raise ImportError for the `with` block (modules not imported yet),
    as if not installed: lean commands skip Keras's `OPTIONAL_IMPORTS` so."""
    blocked = [n for n in names if n not in sys.modules]
    for name in blocked:
        sys.modules[name] = None  # the import system's "not importable" marker
    try:
        yield
    finally:
        for name in blocked:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]


def is_verbose(command: str | None, before: list[str], rest: list[str]) -> bool:
    """-v/--verbose before the command (or among a `VERBOSE_OPTION_COMMANDS` command's own
    options), or HASHTAG_KIT_VERBOSE set to anything but 0/empty."""
    if os.environ.get(VERBOSE_ENV, "").strip() not in ("", "0"):
        return True
    flags = {"-v", "--verbose"}
    if flags & set(before):
        return True
    return command in VERBOSE_OPTION_COMMANDS and bool(flags & set(rest))


# -- errors and the parser every command uses ----------------------------------------------------
class UserError(Exception):
    """A mistake in a command's input: reported as one line, exit status 2."""


class Parser(argparse.ArgumentParser):
    """argparse that reports a wrong option as a `UserError` (one line, no usage dump)."""

    def error(self, message):
        raise UserError(f"{self.prog}: {message} (see --help)")


def integer(low: int, high: int | None = None):
    """An argparse `type`: an integer from `low` (to `high`), else argparse's one-line error
    naming the option.

    Example: `ap.add_argument("--epochs", type=integer(1))`.
    """

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < low or (high is not None and value > high):
            span = f"at least {low}" if high is None else f"from {low} to {high}"
            raise argparse.ArgumentTypeError(f"must be {span}, got {value}")
        return value

    return parse


class Once(argparse.Action):
    """An option that may be given once: a second value is an error, not a silent override
    (`recommend --image a.jpg --image b.jpg` would otherwise drop a.jpg)."""

    def __call__(self, parser, namespace, values, option_string=None):
        if getattr(namespace, self.dest, None) is not None:
            parser.error(f"{option_string} given twice; give it once")
        setattr(namespace, self.dest, values)


def parser(command: str, description: str | None) -> Parser:
    return Parser(
        prog=f"python -m hashtag_kit {command}",
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


# -- the commands --------------------------------------------------------------------------------
def preprocess(argv: list[str]) -> int:
    from hashtag_kit import preprocess as P  # lazy: a fast --help

    ap = parser("preprocess", P.__doc__)
    ap.add_argument("--run", default="outputs/default", help="run directory")
    ap.add_argument("--dataset", default="embedded")
    ap.add_argument("--data-dir")
    ap.add_argument("--mode", choices=P.RUN_MODES, default="full")
    ap.add_argument("--seed", type=integer(0), default=0)
    ap.add_argument("--min-tag-freq", type=integer(1), default=3)
    ap.add_argument("--max-posts", type=integer(1))
    args = ap.parse_args(argv)
    cfg = P.PreprocessConfig(
        dataset=args.dataset,
        data_dir=args.data_dir,
        run_mode=args.mode,
        seed=args.seed,
        min_tag_freq=args.min_tag_freq,
        max_posts=args.max_posts,
    )
    try:
        out = P.preprocess(args.run, cfg)
    except (FileNotFoundError, ValueError) as e:
        raise UserError(str(e)) from None
    print(f"{len(out['posts'])} posts, {len(out['vocab']['hashtags'])} hashtags -> {args.run}")
    print(out["report"].summary())
    return 0


def features(argv: list[str]) -> int:
    # lazy: a fast --help
    from hashtag_kit.data.posts import read_posts
    from hashtag_kit.encoders.image import WeightsUnavailableError
    from hashtag_kit.features.cache import (
        CACHE_ENV,
        KINDS,
        extract_features,
        get_encoder,
        parse_shard,
    )
    from hashtag_kit.report import RunReport
    from hashtag_kit.run import RunDir

    ap = parser(
        "features",
        "Extract and cache image/text features for a run's posts "
        "(01_preprocess/posts.jsonl unless --posts is given).",
    )
    ap.add_argument("run_dir", help="run directory, e.g. outputs/default")
    ap.add_argument("--kind", choices=[*KINDS, "both"], default="both")
    ap.add_argument(
        "--image-encoder",
        default="auto",
        help="auto|inception_v3|efficientnet_lite0|efficientnet_lite0_448",
    )
    ap.add_argument("--text-encoder", default="auto", help="auto|use_v4|use_multilingual_v3")
    ap.add_argument("--image-weights", help="an InceptionV3 weight file (.h5) to load by path")
    ap.add_argument("--use-v4", help="a USE v4 SavedModel folder or TF Hub handle")
    ap.add_argument("--grid", action="store_true", help="also store image region grids")
    ap.add_argument("--shard", help="i/n: compute only worker i of n (then --merge)")
    ap.add_argument("--merge", action="store_true", help="assemble the index from shards only")
    ap.add_argument("--batch-size", type=integer(1), default=32)
    ap.add_argument("--cache-dir", help=f"shared store folder (default ${CACHE_ENV} or the run)")
    ap.add_argument("--posts", help="a post manifest to use instead of the run's")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    try:
        shard = parse_shard(args.shard)
    except ValueError as e:
        raise UserError(f"--shard: {e}") from None
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:  # a manifest missing (names the notebook to run) or with a bad line (names it)
        posts = read_posts(args.posts) if args.posts else RunDir(args.run_dir).load_posts()
    except (FileNotFoundError, ValueError) as e:
        raise UserError(str(e)) from None
    kinds = list(KINDS) if args.kind == "both" else [args.kind]
    chosen = {
        "image": (args.image_encoder, args.image_weights),
        "text": (args.text_encoder, args.use_v4),
    }
    try:  # the encoders first: missing weights are a one-line error, before any work
        encoders = {kind: get_encoder(kind, *chosen[kind]) for kind in kinds}
    except WeightsUnavailableError as e:
        raise UserError(str(e)) from None
    for kind in kinds:
        report = RunReport()
        t0 = time.perf_counter()
        fs = extract_features(
            args.run_dir,
            posts,
            kind,
            encoders[kind],
            grid=args.grid,
            shard=shard,
            batch_size=args.batch_size,
            report=report,
            progress=not args.no_progress,
            cache_dir=args.cache_dir,
            compute=not args.merge,
            load=False,  # memory bounded by a shard, whatever the number of posts
        )
        n = len(fs)
        print(
            f"{kind}: {fs.encoder['id']} {int(fs.mask().sum())}/{n} present, "
            f"pooled {(n, fs.dim)}"
            + (f", grid {(n, *fs.grid_shape)}" if fs.grid else "")
            + f" in {time.perf_counter() - t0:.1f}s; {report.summary()}"
        )
    return 0


def report(argv: list[str]) -> int:
    # lazy: a fast --help
    from hashtag_kit.evaluation.ranking import DEFAULT_KS as KS
    from hashtag_kit.reporting.html import collect_environment, write_report

    ap = parser("report", "Write a run's self-contained HTML report from its metrics.json files.")
    ap.add_argument("--run", default="outputs/default", help="run directory")
    ap.add_argument(
        "--k-original", type=integer(1, max(KS)), default=5, help="K of the original-project table"
    )
    ap.add_argument(
        "--k", type=integer(1, max(KS)), default=7, help="K of the DESIGN and baselines tables"
    )
    ap.add_argument("--out", help="output file (default <run>/05_comparison/)")
    ap.add_argument("--json", action="store_true", help="also print the environment as JSON")
    args = ap.parse_args(argv)
    run = Path(args.run)
    if not run.is_dir():
        raise UserError(f"{run} is not a run directory (run `make reproduce` first)")
    path = write_report(run, k_original=args.k_original, k_table=args.k, out=args.out)
    if args.json:
        print(json.dumps(collect_environment(run), indent=2, default=str))
    print(f"report: {path} ({os.path.getsize(path) / 1024:.0f} KiB)")
    return 0


def embedded(argv: list[str]) -> int:
    from hashtag_kit.data.embedded import generator as G  # lazy: a fast --help

    ap = parser("embedded", "Generate (or reuse) the embedded dataset and print where it is.")
    ap.add_argument("--n-posts", type=integer(G.MIN_N_POSTS), default=G.DEFAULT_N_POSTS)
    ap.add_argument("--seed", type=integer(0), default=0)
    ap.add_argument("--out", help="dataset folder (default: data/embedded/n<N>-s<seed>)")
    ap.add_argument("--force", action="store_true", help="regenerate even if it exists")
    args = ap.parse_args(argv)
    if args.force:
        out = Path(args.out) if args.out else G.default_root() / f"n{args.n_posts}-s{args.seed}"
        G.generate(out, n_posts=args.n_posts, seed=args.seed, progress=True)
    else:
        out = G.ensure(args.out, n_posts=args.n_posts, seed=args.seed)
    print(G.describe(out))
    return 0


def evaluate(argv: list[str]) -> int:
    if argv[:1] == ["flickr8k"]:
        return evaluate_flickr8k(argv[1:])
    return _checkout_tool("tools.studies", "evaluate tweets|fusion")(argv)  # notebooks 07, 06


def evaluate_flickr8k(argv: list[str]) -> int:
    # lazy: a fast --help
    from hashtag_kit.evaluation import flickr8k as F
    from hashtag_kit.run import run_dir_for

    ap = parser("evaluate flickr8k", F.__doc__)
    ap.add_argument("--run", required=True, help="the finished run (outputs/<run> or a path)")
    ap.add_argument("--split", required=True, help="test or dev (Flickr8k's image lists)")
    ap.add_argument("--data-dir", help="the Flickr8k folder (default: the run's data_dir)")
    ap.add_argument("--images-dir", help="the photos' folder, if not in --data-dir")
    ap.add_argument("--out", help="output folder (default RUN/evaluate_flickr8k/<split>/)")
    ap.add_argument("--limit", type=int, default=0, help="first N photos present (0: all)")
    ap.add_argument(
        "--beam", type=int, default=F.DEFAULT_BEAM, help="beam width (default %(default)s)"
    )
    ap.add_argument(
        "--length-penalty",
        type=float,
        help="caption beam's final choice by log-prob / words**A (default: the run's)",
    )
    ap.add_argument("--quiet", action="store_true", help="print only errors")
    args = ap.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        F.evaluate_flickr8k(
            run_dir_for(args.run),
            args.split,
            data_dir=args.data_dir,
            out_dir=args.out,
            images_dir=args.images_dir,
            limit=args.limit,
            beam=args.beam,
            length_penalty=args.length_penalty,
            verbose=not args.quiet,
        )
    except F.EvaluationError as e:
        raise UserError(str(e)) from None
    return 0


def _run_errors() -> tuple[type[Exception], ...]:
    """What serving a run raises when the user has something to fix (the run, a file, weights):
    reported in one line by `recommend` and `serve`."""
    # lazy: a fast --help
    from hashtag_kit.data.images import ImageError
    from hashtag_kit.encoders.image import WeightsUnavailableError
    from hashtag_kit.recommender import EncoderMismatchError, IncompatibleRunError

    return (
        ValueError,
        FileNotFoundError,
        ImageError,
        IncompatibleRunError,
        EncoderMismatchError,
        WeightsUnavailableError,
    )


def recommend(argv: list[str]) -> int:
    from hashtag_kit.recommender import RANKINGS, recommend_once  # lazy: a fast --help

    ap = parser("recommend", "Recommend hashtags for an image and/or a caption with a trained run.")
    ap.add_argument("--image", action=Once, help="path to the photo")
    ap.add_argument("--text", action=Once, help="the caption text")
    ap.add_argument("-k", type=int, default=7, help="how many hashtags (default 7)")
    ap.add_argument("--run", default="outputs/default", help="run directory (default %(default)s)")
    ap.add_argument("--user", help="author id, for personalisation")
    ap.add_argument("--existing", default="", help="tags already typed, comma separated")
    ap.add_argument(
        "--accept",
        default="",
        help="suggestions accepted so far, comma separated, in order: the rest are re-ranked",
    )
    ap.add_argument(
        "--history", help="the user's earlier hashtags, comma separated: personalises a new user"
    )
    ap.add_argument("--beam-width", type=int, default=3, help="beam search width (default 3)")
    ap.add_argument(
        "--ranking",
        choices=RANKINGS,
        default="beam",
        help="beam search (default) or the decoder's first-step distribution",
    )
    ap.add_argument("--json", action="store_true", help="print JSON instead of a table")
    ap.add_argument(
        "--image-weights",
        help="an InceptionV3 weight file you trust, for a run made with one (a run's own "
        "recorded paths are never loaded)",
    )
    ap.add_argument("--use-v4", help="a USE v4 SavedModel folder or hub handle you trust, likewise")
    ap.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="show TensorFlow's and the libraries' log lines (also HASHTAG_KIT_VERBOSE=1)",
    )
    args = ap.parse_args(argv)
    if args.image is None and not (args.text or "").strip():
        raise UserError("empty post: give --image, --text, or both")
    try:
        result = recommend_once(
            args.run,
            image_weights=args.image_weights,
            use_v4=args.use_v4,
            verbose=args.verbose or os.environ.get(VERBOSE_ENV, "").strip() not in ("", "0"),
            image=args.image,
            text=args.text,
            user=args.user,
            existing=args.existing,
            k=args.k,
            beam_width=args.beam_width,
            ranking=args.ranking,
            accepted=args.accept,
            history=args.history,
        )
    except _run_errors() as e:
        raise UserError(str(e)) from None
    if args.json:
        print(json.dumps(result.to_dict(), ensure_ascii=False))
        return 0
    for note in result.notes:
        print(f"note: {note}")
    if not result:
        print("(no hashtags: the model returned none)")
    for rank, (tag, score) in enumerate(result, 1):
        print(f"{rank:>2}. #{tag:<30} {score:.4f}")
    return 0


def serve(argv: list[str]) -> int:
    # lazy: a fast --help
    from hashtag_kit import web_demo as W
    from hashtag_kit.recommender import Recommender

    ap = parser("serve", "Serve a local web page and JSON API that recommend hashtags with a run.")
    ap.add_argument("--run", default="outputs/default", help="run directory (default %(default)s)")
    ap.add_argument(
        "--host", default=W.DEFAULT_HOST, help="address to listen on (default %(default)s)"
    )
    ap.add_argument(
        "--port", type=integer(0, 65535), default=W.DEFAULT_PORT, help="port (default %(default)s)"
    )
    ap.add_argument(
        "--max-upload-mb",
        type=float,
        default=W.DEFAULT_MAX_UPLOAD_MB,
        help="largest photo accepted, in MB (default %(default)s)",
    )
    ap.add_argument(
        "--samples",
        type=integer(0),
        default=W.DEFAULT_SAMPLES,
        help="how many of the run's test posts the page offers (default %(default)s)",
    )
    ap.add_argument("--image-weights", help="an InceptionV3 weight file you trust (as recommend)")
    ap.add_argument("--use-v4", help="a USE v4 SavedModel folder or hub handle you trust, likewise")
    args = ap.parse_args(argv)
    if not args.max_upload_mb > 0:
        raise UserError(f"--max-upload-mb must be positive, got {args.max_upload_mb}")
    try:
        sock = W.bind(args.host, args.port)
    except OSError as e:
        raise UserError(
            f"cannot listen on {args.host}:{args.port} ({e.strerror or e}): "
            "pick another --port or --host"
        ) from None
    with contextlib.closing(sock):
        try:
            rec = Recommender.load(args.run, image_weights=args.image_weights, use_v4=args.use_v4)
            samples = W.load_samples(args.run, args.samples)
            app = W.create_app(rec, samples=samples, max_upload_bytes=int(args.max_upload_mb * 1e6))
        except _run_errors() as e:
            raise UserError(str(e)) from None
        if not W.is_loopback(args.host):
            print(
                f"warning: listening on {args.host}: the demo has no authentication; anyone who "
                "can reach this address can use it",
                file=sys.stderr,
            )
        print(
            f"serving {args.run} at {W.url_of(sock)}/ ({len(samples)} sample posts); Ctrl+C stops"
        )
        W.serve_app(app, sock)
    return 0


def _checkout_tool(module: str, command: str):
    """A command whose code is the repository's tooling (`tools/`: the notebook runner, the
    studies, the benchmarks), not the installed package: it runs from a checkout's root, where
    `make` runs it, and imports `module` from there."""

    def run(argv: list[str]) -> int:
        root, where = Path.cwd(), Path(*module.split("."))
        if not ((root / where).with_suffix(".py").is_file() or (root / where).is_dir()):
            raise UserError(
                f"`{command}` runs from the kit's checkout root (the notebooks and tools/ are "
                f"not installed with the package); no {where}.py or {where}/ in {root}"
            )
        if str(root) not in sys.path:
            sys.path.insert(0, str(root))
        return int(importlib.import_module(module).main(argv) or 0)

    return run


#: command -> (what runs it, one line of help)
COMMANDS = {
    "preprocess": (preprocess, "load, clean and split a dataset into a run directory"),
    "features": (features, "extract and cache image/text features for a run"),
    "recommend": (recommend, "recommend hashtags for an image and/or caption"),
    "evaluate": (
        evaluate,
        "evaluations that write metrics.json (flickr8k; tweets, fusion: from a checkout)",
    ),
    "bench": (
        _checkout_tool("tools.bench", "bench"),
        "benchmarks that print their figures (from a checkout)",
    ),
    "reproduce": (
        _checkout_tool("tools.reproduce", "reproduce"),
        "run notebooks 01 -> 05 (from a checkout)",
    ),
    "report": (report, "write a run's HTML report from its metrics.json files"),
    "serve": (serve, "a local web page and JSON API that recommend hashtags"),
    "embedded": (embedded, "generate (or reuse) the embedded default dataset"),
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    before = []
    while argv and argv[0] in ("-v", "--verbose"):
        before.append(argv.pop(0))
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    verbose = is_verbose(name, before, rest)
    lean = contextlib.nullcontext()
    if name in LEAN_COMMANDS and "keras" not in sys.modules:
        lean = without_modules(OPTIONAL_IMPORTS)
    # commands read -v from HASHTAG_KIT_VERBOSE
    with quiet(verbose), _environ({VERBOSE_ENV: "1"} if verbose else {}), lean:
        try:
            return int(COMMANDS[name][0](rest) or 0)
        except SystemExit as e:  # --help
            return int(e.code or 0)
        except UserError as e:
            print(f"error: {' '.join(str(e).split())}", file=sys.stderr)
            return 2
        except OSError as e:  # disk full, permission, read-only: one line, nothing half-written
            print(f"error: {describe_os_error(e)}", file=sys.stderr)
            return 1
        except RuntimeError as e:  # cached features a command needs are not there: what to run
            # lazy: on this error path only (hashtag_kit.run imports data/, slowing every --help)
            from hashtag_kit.run import MissingFeaturesError

            if not isinstance(e, MissingFeaturesError):
                raise
            print(f"error: {' '.join(str(e).split())}", file=sys.stderr)
            return 2
