"""The README stays short and true: at most 220 lines, a package map line for every folder of
`hashtag_kit/`, the generated blocks `tools/readme_results.py` writes, and links that resolve."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tools.readme_results import FILES, markers

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
MAX_LINES = 220


def _section(text: str, heading: str) -> str:
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end >= 0 else len(text)]


def test_readme_is_at_most_220_lines():
    n = len(README.read_text(encoding="utf-8").splitlines())
    assert n <= MAX_LINES, f"README.md has {n} lines (at most {MAX_LINES}): move detail to docs/"


def test_package_map_has_a_line_for_every_folder():
    package_map = _section(README.read_text(encoding="utf-8"), "The package")
    folders = sorted(
        p.name
        for p in (REPO / "hashtag_kit").iterdir()
        if p.is_dir() and not p.name.startswith(("_", "."))
    )
    assert folders, "hashtag_kit/ has no folders?"
    missing = [f for f in folders if not re.search(rf"^- `{re.escape(f)}/`: \S", package_map, re.M)]
    assert not missing, f"README.md 'The package' has no line for hashtag_kit/{missing}/"


@pytest.mark.parametrize("file", FILES)
def test_generated_blocks_are_marked(file):
    text = (REPO / file).read_text(encoding="utf-8")
    for name in FILES[file][1]:
        start, end = markers(name)
        assert 0 <= text.find(start) < text.find(end), f"{file}: block {name} is not marked"


@pytest.mark.parametrize(
    "file", ["README.md", *sorted(p.name for p in (REPO / "docs").glob("*.md"))]
)
def test_relative_links_resolve(file):
    path = README if file == "README.md" else REPO / "docs" / file
    links = re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", path.read_text(encoding="utf-8"))
    # every link stays in the checkout (a block generated from another checkout's runs did not)
    outside = [link for link in links if not (path.parent / link).resolve().is_relative_to(REPO)]
    assert not outside, f"{file}: links outside the repository {outside}"
    links = [link for link in links if "outputs/" not in link]  # a run's files: not in git
    broken = [link for link in links if not (path.parent / link).exists()]
    assert not broken, f"{file}: links to missing files {broken}"
