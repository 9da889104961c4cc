"""The whole study 01 -> 05 in smoke mode on one run directory (issue: one-command reproduction).

Stages 01-04 are the same executions the per-notebook smoke tests use (memoized per session), so
this test adds only notebook 05 on the real chain's outputs.
"""

import html as html_lib
import re

import pytest

from hashtag_kit.reporting.comparison import (
    build_tables,
    load_published,
    load_run_metrics,
    models_missing_from_tables,
    uncovered_published,
)
from hashtag_kit.run import STAGES

pytestmark = pytest.mark.smoke


def test_whole_chain_report_lists_every_model_and_published_figure(smoke_notebook, smoke_run_dir):
    for stage in STAGES:
        smoke_notebook(stage)
    run_metrics = load_run_metrics(smoke_run_dir)
    for stage in STAGES[1:4]:
        assert run_metrics[stage].ok, f"{stage}: {run_metrics[stage].note()}"
    tables = build_tables(smoke_run_dir)
    assert models_missing_from_tables(tables, run_metrics) == []
    assert uncovered_published(tables).empty
    # every model of stages 02-04 is a row of the report page, and so is every published source
    html = (smoke_run_dir / "05_comparison" / "report.html").read_text(encoding="utf-8")
    names = [n for s in STAGES[1:4] for n in run_metrics[s].models] + [
        n for s in STAGES[1:4] for n in run_metrics[s].captions
    ]
    assert len(names) >= 8
    for name in names:
        assert html_lib.escape(name, quote=False) in html, name
    for source in load_published()["source"].unique():
        assert html_lib.escape(source, quote=False) in html, source
    assert not re.search(r'(src|href)="https?://', html), "report must be self-contained"
