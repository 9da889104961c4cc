"""The package's shape: no import circles, no argument parsing or work done at import time.

The import graph is read from the source (every `import` statement, also those inside
functions: a circle hidden in a function is still a circle a reader has to untangle; not those
under `if TYPE_CHECKING:`, which never run). Importing `a.b.c` runs `a/__init__.py` and
`a/b/__init__.py` first, so it depends on those packages too.
"""

from __future__ import annotations

import ast
import re
import sys
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


def _imported(node: ast.Import | ast.ImportFrom, mods) -> set[str]:
    """The modules an import statement names: `from a import b` means a.b when b is a module of
    the package, and a itself for the names that are not."""
    if isinstance(node, ast.Import):
        return {a.name for a in node.names}
    subs = {f"{node.module}.{a.name}" for a in node.names} & set(mods)
    return subs | {node.module} if len(subs) < len(node.names) else subs


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
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                deps.update(m for m in _imported(node, mods) if m in mods)
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
    """Library modules take plain arguments; `cli.py` parses (the runner, the studies and the
    benchmarks behind `reproduce`, `evaluate` and `bench` parse theirs in `tools/`)."""
    parsers = sorted(
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if "import argparse" in path.read_text(encoding="utf-8")
    )
    assert parsers == ["cli.py"], parsers


def test_the_package_does_not_import_the_repository_tooling():
    """`tools/` (notebook runner, studies, benchmarks) is not installed: no package module
    imports it; the command line reaches it only from a checkout (`cli._checkout_tool`)."""
    offenders = [
        name
        for name, path in _modules().items()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, (ast.Import, ast.ImportFrom))
        and any(m.split(".")[0] == "tools" for m in _imported(node, {}))
    ]
    assert offenders == []


# -- imports at the top, unless deliberately lazy ---------------------------------------------
#: third-party packages cheap enough to import at a module's top (PIL: ~7 ms after numpy)
LIGHT = {"numpy", "PIL", "simplejpeg"}
#: entry points whose every import is deliberately lazy: `python -m hashtag_kit --help` and the
#: lean `recommend` load only what the command runs (about 20 ms against 150 ms for all of it)
ENTRY_POINTS = {"hashtag_kit.cli"}
LAZY_COMMENT = re.compile(r"#.*\blaz(y|ily)\b")


def _top_level_imports(tree: ast.AST):
    """The import statements that run when the module is imported (not inside functions)."""
    todo = list(ast.iter_child_nodes(tree))
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            todo.extend(ast.iter_child_nodes(node))


def heavy_packages() -> dict[str, set[str]]:
    """module -> the third-party packages outside `LIGHT` that importing it loads."""
    mods = _modules()
    deps, third = {}, {}
    for name, path in mods.items():
        deps[name], third[name] = set(), set()
        for node in _top_level_imports(ast.parse(path.read_text(encoding="utf-8"))):
            for m in _imported(node, mods):
                parts = m.split(".")
                if parts[0] == "hashtag_kit":
                    deps[name] |= {".".join(parts[:i]) for i in range(1, len(parts) + 1)} & set(
                        mods
                    )
                elif parts[0] not in sys.stdlib_module_names | LIGHT | {"__future__"}:
                    third[name].add(parts[0])
    heavy: dict[str, set[str]] = {}

    def visit(name: str, seen: set[str]) -> set[str]:
        if name not in heavy:
            seen.add(name)
            found = set(third[name])
            for d in (deps[name] | _ancestors(name)) - seen:
                found |= visit(d, seen)
            heavy[name] = found
        return heavy[name]

    for name in mods:
        visit(name, set())
    return heavy


def test_imports_are_at_the_top_unless_deliberately_lazy():
    """An import inside a function must load something heavy (TensorFlow, Keras, matplotlib,
    FastAPI, ...), be optional (under `except ImportError`) or be in an entry point, and say
    why in a comment with "lazy" (on its line or just above its group of imports). Everything
    else goes at the top."""
    mods, heavy = _modules(), heavy_packages()
    assert {"tensorflow", "keras"} <= heavy["hashtag_kit.models.encoder_decoder"]
    assert heavy["hashtag_kit.data.images"] == set()
    light, silent = [], []
    for name, path in mods.items():
        text = path.read_text(encoding="utf-8")
        lines, tree = text.splitlines(), ast.parse(text)
        optional = {
            id(n)
            for t in ast.walk(tree)
            if isinstance(t, ast.Try)
            and any(ast.unparse(h.type or ast.Name("")).endswith("ImportError") for h in t.handlers)
            for stmt in t.body
            for n in ast.walk(stmt)
        }
        top = set(map(id, _top_level_imports(tree)))
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Import, ast.ImportFrom)) or id(node) in top:
                continue
            where = f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: {ast.unparse(node)}"
            loads = set()
            for m in _imported(node, mods):
                if m in mods:
                    loads |= heavy[m]
                elif m.split(".")[0] not in sys.stdlib_module_names | LIGHT:
                    loads.add(m.split(".")[0])
            if not loads and id(node) not in optional and name not in ENTRY_POINTS:
                light.append(where)
            above = node.lineno - 2  # the comment may sit above the group's first import
            while above >= 0 and (
                not lines[above].strip()
                or lines[above].strip().startswith(("import ", "from ", ")"))
                or lines[above].rstrip().endswith(",")
            ):
                above -= 1
            comments = [lines[node.lineno - 1]]
            while above >= 0 and lines[above].strip().startswith("#"):
                comments.append(lines[above])
                above -= 1
            if not any(LAZY_COMMENT.search(c) for c in comments):
                silent.append(where)
    assert light == [], "imports of light modules belong at the module's top"
    assert silent == [], 'lazy imports say why in a comment with "lazy"'
