"""Benchmarks that print their figures: `python -m hashtag_kit bench <name>|all`.

They measure the repository's speed and memory targets (docs/performance.md) and are its
tooling, not installed with the package: the command line runs them from the checkout's root.
Each benchmark module exposes `main(argv) -> int`, which prints a small table of what it
measured (with the machine it ran on), and `build_parser()`, its options: `bench all` gives each
benchmark the options it takes, and an option none takes is an error, as in a single one.
Speed targets are checked by reading these figures, not by timed tests.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from hashtag_kit.cli import UserError

BENCHES = {
    "features": "tools.bench.features",  # feature extraction pipeline vs bare forward
    "train": "tools.bench.training",  # encoder-decoder ms/step and examples/s
    "recommend": "tools.bench.recommend",  # batch recommend posts/s from cached features
    "caption": "tools.bench.caption",  # caption training: kit loop vs TF tutorial loop
    "cli": "tools.bench.cli",  # cold `recommend` vs import tensorflow; warm server vs bare
    "scale": "tools.bench.scale",  # memory and time of training/extraction as N grows
    "loaders": "tools.bench.loaders",  # the real datasets' loaders, hashtag text, image reading
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m hashtag_kit bench",
        description=__doc__,
        add_help=False,  # `bench NAME --help` is the benchmark's own help
    )
    parser.add_argument("name", choices=[*BENCHES, "all"], help="which benchmark")
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        parser.print_help()
        return 0 if argv else 2
    args, rest = parser.parse_known_args(argv)
    names = list(BENCHES) if args.name == "all" else [args.name]
    modules = {name: importlib.import_module(BENCHES[name]) for name in names}
    if len(names) == 1:  # its options are checked before its header is printed
        modules[names[0]].build_parser().parse_args(rest)
        shares = {names[0]: rest}
    else:
        shares = share_options(modules, rest)
    status = 0
    for name, module in modules.items():
        print(f"== bench {name}")
        status |= int(module.main(shares[name]) or 0)
    return status


def share_options(modules: dict, argv: list[str]) -> dict[str, list[str]]:
    """`bench all`: each benchmark's share of `argv`, the options its parser knows (with their
    values), checked before any benchmark runs: an option that no benchmark knows is a
    `UserError`, a value one refuses argparse's error (each benchmark alone is strict too)."""
    shares, unknown_to_all = {}, None
    for name, module in modules.items():
        _, unknown = module.build_parser().parse_known_args(argv)
        shares[name] = _without(argv, unknown)
        unknown_to_all = set(unknown) if unknown_to_all is None else unknown_to_all & set(unknown)
    nobody = [token for token in argv if token in (unknown_to_all or ())]
    if nobody:
        raise UserError(f"bench all: no benchmark takes {' '.join(nobody)} (see bench NAME --help)")
    return shares


def _without(argv: list[str], unknown: list[str]) -> list[str]:
    """`argv` without the tokens of `unknown`, which argparse lists in their order in `argv`."""
    kept, pending = [], list(unknown)
    for token in argv:
        if pending and token == pending[0]:
            pending.pop(0)
        else:
            kept.append(token)
    return kept
