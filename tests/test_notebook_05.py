"""Smoke test of notebook 05 (papermill) on a fake run directory: it builds the tables, checks
them, writes the report, the CSV tables and metrics.json, and never needs a model."""

from __future__ import annotations

import json

import pytest
from fake_run import make_fake_run

from hashtag_kit.run import ATTENTION, CAPTION, COMPARISON, ENCODER_DECODER, PREPROCESS

pytestmark = pytest.mark.smoke


def _run_notebook(run_dir, **params):
    from tools.reproduce import execute

    execute(COMPARISON, run_dir, "smoke", params)
    return run_dir / COMPARISON


def test_notebook_05_on_a_fake_run(tmp_path):
    rd = make_fake_run(tmp_path / "run")
    stage = _run_notebook(rd.path, K_TABLE=7, K_ORIGINAL=5)
    metrics = json.loads((stage / "metrics.json").read_text())
    extra = metrics["extra"]
    assert metrics["stage"] == COMPARISON and metrics["run_mode"] == "smoke"
    assert extra["n_published_figures"] == 54 and extra["n_uncovered_published"] == 0
    assert extra["models_missing_from_tables"] == []
    assert extra["stages"] == {s: "ok" for s in (PREPROCESS, ENCODER_DECODER, ATTENTION, CAPTION)}
    page = (stage / extra["report"]).read_text(encoding="utf-8")
    assert "encoder-decoder weighted+user" in page and "DESIGN, ViT, weighted fusion" in page
    assert page.count("data:image/png;base64,") == 3
    for name in ("stages", "original", "design", "baselines", "captions"):
        assert (stage / "tables" / f"{name}.csv").stat().st_size > 0
    for name in ("metrics_vs_k", "params_vs_f1", "training_curves"):
        assert (stage / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
    executed = json.loads((rd.path / "executed" / f"{COMPARISON}.ipynb").read_text())
    outputs = [o for c in executed["cells"] for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert sum("image/png" in o.get("data", {}) for o in outputs) == 3  # the plots are shown
    # the tidy frame, the headline pivot and the five tables
    assert sum("text/html" in o.get("data", {}) for o in outputs) == 7


def test_notebook_05_with_stages_missing(tmp_path):
    rd = make_fake_run(tmp_path / "run", stages=(PREPROCESS, ENCODER_DECODER))
    stage = _run_notebook(rd.path)
    extra = json.loads((stage / "metrics.json").read_text())["extra"]
    assert extra["stages"][ATTENTION] == "missing" and extra["stages"][CAPTION] == "missing"
    assert extra["n_uncovered_published"] == 0
    page = (stage / "report.html").read_text(encoding="utf-8")
    assert f"stage {ATTENTION} not run" in page and f"stage {CAPTION} not run" in page
