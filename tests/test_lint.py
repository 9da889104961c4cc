"""House style is checked in CI: ruff lint and format are clean, notebooks carry no outputs and
teach in short code cells."""

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PARAMETER = re.compile(r"^([A-Z][A-Z0-9_]*): (str|int|float|bool|list) = (.+?)  # \S.*$")
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
#: a notebook teaches in short steps: no code cell longer than this
MAX_CELL_LINES = 40


@pytest.mark.parametrize("args", [["check", "."], ["format", "--check", "."]])
def test_ruff_is_clean(args):
    proc = subprocess.run(
        [sys.executable, "-m", "ruff", *args], cwd=REPO, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebooks_are_committed_without_outputs_and_have_parameters(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert not any(c.get("outputs") or c.get("execution_count") for c in code)
    params = [c for c in code if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(params) == 1, "exactly one cell tagged `parameters`"
    lines = [ln for ln in "".join(params[0]["source"]).splitlines() if ln.strip()]
    # one line per parameter: `NAME: type = literal  # help` (papermill --help-notebook prints
    # the type, the default and the comment; a value wrapped over lines loses its help)
    types = {"str": str, "int": int, "float": float, "bool": bool, "list": list}
    for ln in lines:
        m = PARAMETER.match(ln)
        assert m, f"{path.name}: not `NAME: type = literal  # help` on one line: {ln!r}"
        value = ast.literal_eval(m.group(3))
        assert type(value) is types[m.group(2)], f"{path.name}: {ln!r}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_code_cells_are_short(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    long = {
        i: n
        for i, c in enumerate(nb["cells"])
        if c["cell_type"] == "code"
        and (n := len("".join(c["source"]).rstrip().splitlines())) > MAX_CELL_LINES
    }
    assert not long, f"{path.name}: code cells over {MAX_CELL_LINES} lines (cell: lines): {long}"
