"""Command line: `python -m hashtag_kit <command> [options]` (also installed as `hashtag-kit`).

Commands are implemented next to the code they drive; each module exposes `main(argv) -> int`.
A file error (`OSError`: disk full, no permission, read-only folder) that a command does not
handle itself ends it with one line naming the path and what to do, and exit status 1.
`python -m hashtag_kit <command> --help` shows a command's options.
"""

from __future__ import annotations

import importlib
import sys

COMMANDS = {
    "preprocess": (
        "hashtag_kit.preprocess",
        "load, clean and split a dataset into a run directory",
    ),
    "features": ("hashtag_kit.encoders.cache", "extract and cache image/text features for a run"),
    "recommend": ("hashtag_kit.recommender", "recommend hashtags for an image and/or caption"),
    "evaluate": ("hashtag_kit.evaluate", "evaluations that write metrics.json (e.g. tweets)"),
    "bench": ("hashtag_kit.bench", "benchmarks that print their figures"),
    "reproduce": ("hashtag_kit.reproduce", "run notebooks 01 -> 05 with papermill"),
    "report": ("hashtag_kit.html_report", "write a run's HTML report from its metrics.json files"),
}


def _usage() -> str:
    lines = ["usage: python -m hashtag_kit <command> [options]", "", "commands:"]
    lines += [f"  {name:<11} {doc}" for name, (_, doc) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    try:
        return int(module.main(rest) or 0)
    except OSError as e:  # disk full, permission, read-only: one line, nothing half-written
        from hashtag_kit.files import describe_os_error

        print(f"error: {describe_os_error(e)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
