"""The package's shape: no import circles, no argument parsing or work done at import time.

The import graph is read from the source (every `import` statement, also those inside
functions: a circle hidden in a function is still a circle a reader has to untangle; not those
under `if TYPE_CHECKING:`, which never run). Importing `a.b.c` runs `a/__init__.py` and
`a/b/__init__.py` first, so it depends on those packages too.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "hashtag_kit"


def _modules() -> dict[str, Path]:
    mods = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(parts)] = path
    return mods


def import_graph() -> dict[str, set[str]]:
    """module -> the package modules it imports (`from a import b` means a.b when b is a module)."""
    mods = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in mods.items():
        deps: set[str] = set()
        tree = ast.parse(path.read_text(encoding="utf-8"))
        typing_only = {
            id(n)
            for block in ast.walk(tree)
            if isinstance(block, ast.If) and ast.unparse(block.test).endswith("TYPE_CHECKING")
            for stmt in block.body
            for n in ast.walk(stmt)
        }
        for node in ast.walk(tree):
            if id(node) in typing_only:
                continue
            if isinstance(node, ast.Import):
                deps.update(a.name for a in node.names if a.name in mods)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module in mods:
                subs = {f"{node.module}.{a.name}" for a in node.names} & set(mods)
                deps.update(subs or {node.module})
                if len(subs) < len(node.names):
                    deps.add(node.module)
        parents = {".".join(d.split(".")[:i]) for d in deps for i in range(1, d.count(".") + 1)}
        graph[name] = (deps | (parents & set(mods))) - {name} - _ancestors(name)
    return graph


def _ancestors(name: str) -> set[str]:
    """The packages holding module `name` (already being imported when it runs)."""
    parts = name.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts))}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_finds_a_circle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_graph_counts_the_packages_an_import_runs():
    """`import a.b.c` runs `a/b/__init__.py` first: a circle through a package's `__init__`
    (as `text` -> `data.posts` -> `data/__init__` -> `data.loaders` -> `text` was, which
    broke a fresh `import hashtag_kit.text`) is a circle; `if TYPE_CHECKING:` imports never run."""
    import subprocess
    import sys

    graph = import_graph()
    assert "hashtag_kit.features" in graph["hashtag_kit.models.cnn_rnn"]  # via features.cache
    assert "hashtag_kit.data.posts" not in graph["hashtag_kit.text"]  # annotation only
    assert not graph["hashtag_kit.data.loaders"] & {"hashtag_kit", "hashtag_kit.data"}
    for module in ("hashtag_kit.text", "hashtag_kit.data.posts", "hashtag_kit.vocabulary"):
        done = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True)
        assert done.returncode == 0, (module, done.stderr.decode()[-500:])


def test_the_package_has_no_import_circles():
    graph = import_graph()
    assert "hashtag_kit.data.loaders" in graph  # the graph sees the package
    assert cycles(graph) == []


def test_no_module_level_getattr():
    offenders = [
        str(path.relative_to(PACKAGE.parent))
        for path in _modules().values()
        if any(
            isinstance(node, ast.FunctionDef) and node.name == "__getattr__"
            for node in ast.parse(path.read_text(encoding="utf-8")).body
        )
    ]
    assert offenders == []


def test_argument_parsing_lives_in_the_command_line_module():
    """Library modules take plain arguments; `cli.py` (and the benchmarks behind `bench`) parse."""
    parsers = sorted(
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if "import argparse" in path.read_text(encoding="utf-8")
    )
    assert parsers and all(p == "cli.py" or p.startswith("bench/") for p in parsers), parsers
