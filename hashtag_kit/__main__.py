"""Command line: `python -m hashtag_kit [-v] <command> [options]` (also installed as `hashtag-kit`).

Commands are implemented next to the code they drive; each module exposes `main(argv) -> int`.
A file error (`OSError`: disk full, no permission, read-only folder) that a command does not
handle itself ends it with one line naming the path and what to do, and exit status 1.
`python -m hashtag_kit <command> --help` shows a command's options.

The command line is quiet: TensorFlow's C++ and absl log lines and the Python warnings and log
records of TensorFlow, Keras and the other libraries below the kit are silenced for the
command's duration (set before TensorFlow is imported; a `TF_CPP_MIN_LOG_LEVEL` you set
yourself is kept). `-v`/`--verbose` before the command (or after `recommend`), or
`HASHTAG_KIT_VERBOSE=1`, shows them. The kit's own messages are unchanged. Importing
`hashtag_kit` as a library changes none of this: only this entry point does it.

Lean commands (`LEAN_COMMANDS`: `recommend`) import only what they use: TensorFlow and Keras
import scikit-learn, pandas, matplotlib, IPython and scipy at start-up when they are
installed (`OPTIONAL_IMPORTS`, for features the command never uses), and a lean command's
process skips them as if they were not installed.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import sys
import warnings
from collections.abc import Iterator

COMMANDS = {
    "preprocess": (
        "hashtag_kit.preprocess",
        "load, clean and split a dataset into a run directory",
    ),
    "features": ("hashtag_kit.encoders.cache", "extract and cache image/text features for a run"),
    "recommend": ("hashtag_kit.recommender", "recommend hashtags for an image and/or caption"),
    "evaluate": (
        "hashtag_kit.evaluation.tweets",
        "evaluations that write metrics.json (e.g. tweets)",
    ),
    "bench": ("hashtag_kit.bench", "benchmarks that print their figures"),
    "reproduce": ("hashtag_kit.reproduce", "run notebooks 01 -> 05 with papermill"),
    "report": (
        "hashtag_kit.reporting.html",
        "write a run's HTML report from its metrics.json files",
    ),
    "serve": ("hashtag_kit.web_demo", "a local web page and JSON API that recommend hashtags"),
}

#: commands whose process never needs what Keras imports optionally (`OPTIONAL_IMPORTS`)
LEAN_COMMANDS = frozenset({"recommend"})
#: packages TensorFlow and Keras import at start-up only when installed (each in a `try: import
#: ... except ImportError`), for features a lean command never uses: scikit-learn (Keras's
#: scikit-learn wrappers), pandas (`fit` on data frames), matplotlib (`keras.visualization`),
#: IPython (the saving file editor's notebook display) and scipy (sparse inputs to the legacy
#: `tf.keras` v1 training loops). Together about half of `import tensorflow` here (TensorFlow
#: imports Keras at start-up).
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
def quiet(verbose: bool = False) -> Iterator[None]:
    """Silence TensorFlow, absl and library logging for the `with` block, then restore it.

    Sets `QUIET_ENV` (C++ logging; only effective before TensorFlow is first imported), raises
    `QUIET_LOGGERS` and absl's Python logger to ERROR and ignores the warnings of
    `QUIET_WARNING_MODULES`. With `verbose` it does nothing.
    """
    if verbose:
        yield
        return
    saved_env = {k: os.environ.get(k) for k in QUIET_ENV}
    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)
    loggers = [logging.getLogger(name) for name in QUIET_LOGGERS]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    absl_logging, absl_level = None, None
    with contextlib.suppress(ImportError):  # absl comes with TensorFlow
        from absl import logging as absl_logging

        absl_level = absl_logging.get_verbosity()
        absl_logging.set_verbosity(absl_logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", module=QUIET_WARNING_MODULES)
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)
        if absl_logging is not None:
            absl_logging.set_verbosity(absl_level)
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextlib.contextmanager
def without_modules(names: tuple[str, ...]) -> Iterator[None]:
    """Make `import name` raise ImportError for the `with` block (modules not imported yet).

    Used by lean commands so that Keras's optional imports (`OPTIONAL_IMPORTS`) are skipped as
    if the packages were not installed; they are importable again afterwards.
    """
    blocked = [n for n in names if n not in sys.modules]
    for name in blocked:
        sys.modules[name] = None  # the import system's "not importable" marker
    try:
        yield
    finally:
        for name in blocked:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]


@contextlib.contextmanager
def _verbose_env(verbose: bool) -> Iterator[None]:
    """`HASHTAG_KIT_VERBOSE=1` for the command when -v was given (commands read it there)."""
    saved = os.environ.get(VERBOSE_ENV)
    if verbose:
        os.environ[VERBOSE_ENV] = "1"
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(VERBOSE_ENV, None)
        else:
            os.environ[VERBOSE_ENV] = saved


def is_verbose(command: str | None, before: list[str], rest: list[str]) -> bool:
    """-v/--verbose before the command (or among a `VERBOSE_OPTION_COMMANDS` command's own
    options), or HASHTAG_KIT_VERBOSE set to anything but 0/empty."""
    if os.environ.get(VERBOSE_ENV, "").strip() not in ("", "0"):
        return True
    flags = {"-v", "--verbose"}
    if flags & set(before):
        return True
    return command in VERBOSE_OPTION_COMMANDS and bool(flags & set(rest))


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
    with quiet(verbose), _verbose_env(verbose), lean:
        module = importlib.import_module(COMMANDS[name][0])
        try:
            return int(module.main(rest) or 0)
        except OSError as e:  # disk full, permission, read-only: one line, nothing half-written
            from hashtag_kit.files import describe_os_error

            print(f"error: {describe_os_error(e)}", file=sys.stderr)
            return 1


if __name__ == "__main__":
    sys.exit(main())
