"""The comparison tables: this run's figures (read from every stage's metrics.json) beside the
published ones (`hashtag_kit/reference/published_results.csv`), with what differs in protocol.

Nothing is trained or recomputed here. Every number of "this run" comes from a `metrics.json`
that a notebook wrote (schema in `hashtag_kit.run` / the project README). Every published
number comes from the reference CSV, which copies the papers' tables with their sources.

Tables (`build_tables` returns them in this order; each table's function says what it holds):
``stages`` (`stages_table`: which stages ran), ``original`` (`original_table`: the original
project's comparison table, Sahliya et al. 2024), ``design`` (`design_table`: the DESIGN
follow-up's Table 1, Yakovlev & Shapoval 2024), ``baselines`` (`baselines_table`: HARRISON's
baselines, Park et al. 2016) and ``captions`` (`captions_table`: Show-Attend-Tell, Krause et al.
2017, Melas-Kyriazi et al. 2018).

Every published figure lands in exactly one table (`route_published`), in a cell whose column is
its metric at its K; `uncovered_published` checks that. A stage that was not run (or whose
metrics.json cannot be read) gives a row saying so instead of an error.

Example:
    >>> tables = build_tables("outputs/default")          # doctest: +SKIP
    >>> tables["design"][["model", "F1@7", "protocol"]]   # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
import numbers
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from hashtag_kit.data.splits import describe_scored_part, scored_part
from hashtag_kit.evaluation.ranking import DEFAULT_KS
from hashtag_kit.files import BAD_JSON
from hashtag_kit.run import (
    ATTENTION,
    CAPTION,
    COMPARISON,
    ENCODER_DECODER,
    PREPROCESS,
    STAGES,
    RunDir,
)

#: column of the ranking metrics: key in `ranking_metrics` output -> short label
METRIC_LABELS = {
    "hit_rate": "Hit",
    "precision": "P",
    "recall": "R",
    "f1": "F1",
    "micro_precision": "microP",
    "micro_recall": "microR",
}
CAPTION_METRICS = ("bleu1", "bleu2", "bleu3", "bleu4", "meteor", "rouge_l", "cider")
#: the original project's "accuracy" is AMNN's code's accuracy, i.e. the hit rate
ORIGINAL_METRICS = {"accuracy": "hit_rate", "recall": "recall", "precision": "precision"}
TABLE_NAMES = ("stages", "original", "design", "baselines", "captions")
TABLE_TITLES = {
    "stages": "Stages of this run",
    "original": "Original project's comparison table (Sahliya et al. 2024)",
    "design": "DESIGN follow-up Table 1: fusion and personalisation at K = 7",
    "baselines": "Baselines (notebook 03) beside HARRISON's published baselines",
    "captions": "Caption and paragraph generation (notebook 04)",
}
THIS_RUN = "this run"
#: variants left out of the original project's (image+text) table; they are in the others
SINGLE_MODALITIES = ("image", "text", "image only", "text only")


def published_path() -> Path:
    """Where the kit's copy of the published figures lives (package data)."""
    return Path(str(resources.files("hashtag_kit") / "reference" / "published_results.csv"))


def load_published(path: str | Path | None = None) -> pd.DataFrame:
    """The published figures, one row per (source, dataset, model, metric, K).

    Columns: source, dataset, model, metric, k (nullable int; missing = K not stated), value,
    protocol_note.
    """
    path = Path(path) if path else published_path()
    df = pd.read_csv(path, dtype={"protocol_note": str}, keep_default_na=True)
    need = {"source", "dataset", "model", "metric", "k", "value", "protocol_note"}
    if missing := need - set(df.columns):
        raise ValueError(f"{path}: missing column(s) {sorted(missing)}; need {sorted(need)}")
    df["k"] = df["k"].astype("Int64")
    df["protocol_note"] = df["protocol_note"].fillna("")
    return df


# -- reading the run --------------------------------------------------------------------------
@dataclass
class StageMetrics:
    """One stage's metrics.json as read (or why it could not be)."""

    stage: str
    path: Path
    status: str  # "ok" | "missing" | "unreadable"
    metrics: dict = field(default_factory=dict)
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def models(self) -> dict:
        """name -> entry of "models"; malformed entries are kept with a "_problem" note."""
        return self._entries("models")

    @property
    def captions(self) -> dict:
        return self._entries("captions")

    def _entries(self, key: str) -> dict:
        value = self.metrics.get(key) if self.ok else None
        if not isinstance(value, Mapping):
            return {}
        return {str(name): _clean_entry(entry) for name, entry in value.items()}

    def problems(self) -> list[str]:
        """What in this metrics.json does not follow the schema (shown in the stages table)."""
        out = [
            f'"{key}" is {type(self.metrics[key]).__name__}, not an object'
            for key in ("models", "captions", "extra")
            if self.ok
            and self.metrics.get(key) is not None
            and not isinstance(self.metrics[key], Mapping)
        ]
        return out + [
            f"{key}[{n!r}]: {e['_problem']}"
            for key in ("models", "captions")
            for n, e in self._entries(key).items()
            if "_problem" in e
        ]

    def note(self) -> str:
        """A sentence for a table row when the stage has nothing to show."""
        if self.status == "missing":
            return (
                f"stage {self.stage} not run: {self.path} does not exist "
                f"(run notebook {self.stage})"
            )
        if self.status == "unreadable":
            return f"stage {self.stage}: {self.path} could not be read ({self.error})"
        return ""


def _clean_entry(entry) -> dict:
    """A model entry with its nested objects checked: a malformed part becomes None and the
    entry gets a "_problem" note, so the tables show it instead of failing."""
    if not isinstance(entry, Mapping):
        return {"_problem": f"entry is {type(entry).__name__}, not an object"}
    out = dict(entry)
    for key in ("ranking", "variant", "history"):
        if out.get(key) is not None and not isinstance(out[key], Mapping):
            out["_problem"] = f'"{key}" is {type(out[key]).__name__}, not an object'
            out[key] = None
    return out


def load_run_metrics(run_dir: str | Path | RunDir) -> dict[str, StageMetrics]:
    """Every stage's metrics.json of a run: stages 01-04 always (missing ones marked), plus any
    other folder of the run holding a metrics.json (e.g. an evaluation), never 05 itself."""
    rd = run_dir if isinstance(run_dir, RunDir) else RunDir(run_dir)
    try:  # stages written before metrics.json carried it: the run's own record
        test_part = rd.meta().get("official_test_part")
    except (OSError, ValueError):
        test_part = None
    stages = [s for s in STAGES if s != COMPARISON]
    stages += sorted(  # none when the run folder does not exist
        p.parent.name
        for p in rd.path.glob("*/metrics.json")
        if p.parent.name not in STAGES and not p.parent.name.startswith(".")
    )
    out = {}
    for stage in stages:
        path = rd.path / stage / "metrics.json"
        if not path.exists():
            out[stage] = StageMetrics(stage, path, "missing")
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise ValueError(f"expected a JSON object, got {type(data).__name__}")
        except (OSError, *BAD_JSON) as e:
            out[stage] = StageMetrics(stage, path, "unreadable", error=str(e))
            continue
        data.setdefault("official_test_part", test_part)
        out[stage] = StageMetrics(stage, path, "ok", data)
    return out


def _scored(m: Mapping) -> str:
    """The part a stage's figures come from, e.g. "random split, test part" (`scored_part`)."""
    return describe_scored_part(m.get("split"), m.get("official_test_part"))


def scored_posts(run_metrics: Mapping[str, StageMetrics]) -> str:
    """What the hashtag models of all stages were scored on, for a title: the split and part
    when every stage with models used the same one, else "each notebook's test posts"."""
    said = {_scored(sm.metrics) for sm in run_metrics.values() if sm.ok and sm.models}
    return said.pop() if len(said) == 1 else "each notebook's test posts"


def all_models(run_metrics: Mapping[str, StageMetrics]) -> dict[str, dict]:
    """Every hashtag model of every stage: display name -> its metrics.json entry.

    A name used by several stages (e.g. "popularity" in 02 and 03) gets the stage's number
    appended, "popularity (03)", so no model hides another.
    """
    return {
        display: entry
        for stage in run_metrics
        for _, _, display, entry in _stage_models(run_metrics, stage)
    }


def display_name(name: str, stage: str, duplicated: bool) -> str:
    return f"{name} ({stage[:2]})" if duplicated else name


def split_display_name(display: str) -> tuple[str, str | None]:
    """(model name, notebook number or None): `display_name` undone."""
    numbered = re.fullmatch(r"(.*) \((\d\d)\)", display)
    return (numbered[1], numbered[2]) if numbered else (display, None)


def alike_across_notebooks(figures: Mapping[str, object]) -> dict[str, list[str]]:
    """Models that several notebooks score with the same figures (popularity in 02 and 03, on
    the same test posts), from {display name: its figures (compared by `repr`)}: {the first's
    display name: all of their display names, in order}. A model alone is not listed.

    The tables and plots show such a model once, naming its notebooks (`merged_display_name`).
    """
    groups: dict[tuple[str, str], list[str]] = {}
    for name, value in figures.items():
        base, notebook = split_display_name(name)
        if notebook:
            groups.setdefault((base, repr(value)), []).append(name)
    return {names[0]: names for names in groups.values() if len(names) > 1}


def merged_display_name(names: Sequence[str]) -> str:
    """One name for a model that several notebooks score alike: "popularity (02, 03)"."""
    notebooks = ", ".join(split_display_name(n)[1] for n in names)
    return f"{split_display_name(names[0])[0]} ({notebooks})"


# -- small helpers ----------------------------------------------------------------------------
def _ranking_value(entry: Mapping, metric: str, k: int | None):
    value = ((entry or {}).get("ranking") or {}).get(metric)
    if isinstance(value, Mapping):
        value = value.get(str(k)) if k is not None else None
    return _num(value)


def _num(value):
    if isinstance(value, bool) or value is None:
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(value) else value


def _label(metric: str, k) -> str:
    if k is None or pd.isna(k):
        return metric
    return f"{METRIC_LABELS.get(metric, metric)}@{int(k)}"


def _encoders_text(encoders) -> str:
    if not encoders:
        return "encoders not recorded"
    if not isinstance(encoders, Mapping):
        return str(encoders)
    return ", ".join(
        f"{kind}={enc.get('name', enc) if isinstance(enc, Mapping) else enc}"
        for kind, enc in encoders.items()
    )


def _run_context(sm: StageMetrics) -> str:
    m = sm.metrics
    dataset = m.get("dataset") or "dataset not recorded"
    mode = m.get("run_mode") or "mode not recorded"
    return f"{dataset} ({mode} mode), {_scored(m)}, {_encoders_text(m.get('encoders'))}"


def _this_run_summary(run_metrics: Mapping[str, StageMetrics]) -> str:
    """Dataset and encoders of this run, for the published rows' 'what differs' text."""
    for sm in run_metrics.values():
        if sm.ok and (sm.metrics.get("dataset") or sm.metrics.get("encoders")):
            ds = sm.metrics.get("dataset") or "dataset not recorded"
            return f"this run ({ds}, {_encoders_text(sm.metrics.get('encoders'))})"
    return "this run (no stage metrics found)"


def _missing_rows(run_metrics: Mapping[str, StageMetrics], stage: str, columns) -> list[dict]:
    """[a row saying why `stage` has no figures], or [] when its metrics.json was read."""
    sm = run_metrics.get(stage) or StageMetrics(stage, Path(stage) / "metrics.json", "missing")
    if sm.ok:
        return []
    row = dict.fromkeys(columns)
    row.update(model=f"({sm.stage} not available)", source=THIS_RUN, stage=sm.stage, note=sm.note())
    return [row]


# -- which table each published figure belongs to ---------------------------------------------
def route_published(row: Mapping) -> str:
    """The table a published figure goes to: captions metrics -> captions; the original
    project's report -> original; ranking figures at K = 7 -> design; other ranking -> baselines."""
    if row["metric"] in CAPTION_METRICS:
        return "captions"
    if "Sahliya" in str(row["source"]):
        return "original"
    if not pd.isna(row["k"]) and int(row["k"]) == 7:
        return "design"
    return "baselines"


def _published_rows(published: pd.DataFrame, table: str, label_of, ours: str) -> list[dict]:
    """One row per (source, model) of the published figures routed to `table`."""
    sel = published[published.apply(route_published, axis=1) == table]
    rows = []
    for (source, dataset, model), grp in sel.groupby(
        ["source", "dataset", "model"], sort=False, dropna=False
    ):
        row = {"model": model, "source": source, "dataset": dataset}
        for _, r in grp.iterrows():
            row[label_of(r["metric"], r["k"])] = float(r["value"])
        ks = sorted({int(k) for k in grp["k"].dropna()})
        k_text = "K=" + "/".join(map(str, ks)) if ks else "K not stated"
        if grp["metric"].isin(CAPTION_METRICS).all():
            k_text = ""  # caption metrics have no K
        notes = [n for n in dict.fromkeys(grp["protocol_note"]) if n and n != k_text]
        what = "; ".join(x for x in [dataset, k_text, *notes] if x)
        row["protocol"] = f"published: {what} | differs from {ours}"
        row["note"] = ""
        rows.append(row)
    return rows


# -- the tables -------------------------------------------------------------------------------
def stages_table(run_metrics: Mapping[str, StageMetrics]) -> pd.DataFrame:
    """One row per stage: status, dataset, run mode, seed, split, number of models, note."""
    cols = ["stage", "status", "dataset", "run_mode", "seed", "split", "models", "captions", "note"]
    rows = [
        {
            "stage": sm.stage,
            "status": sm.status,
            **{key: sm.metrics.get(key) for key in ("dataset", "run_mode", "seed", "split")},
            "models": len(sm.models),
            "captions": len(sm.captions),
            "note": "; ".join(x for x in [sm.note() or _stage_note(sm), *sm.problems()] if x),
        }
        for sm in run_metrics.values()
    ]
    return pd.DataFrame(rows, columns=cols)


def _stage_note(sm: StageMetrics) -> str:
    m = sm.metrics
    if sm.stage == PREPROCESS:
        parts = []
        if isinstance(m.get("splits"), Mapping):
            for name, parts_ in m["splits"].items():
                if isinstance(parts_, Mapping):
                    parts.append(f"{name} split " + _split_sizes(name, parts_, m))
        if "n_hashtags" in m:
            parts.append(f"{m['n_hashtags']} hashtags")
        rep = m.get("report")
        if isinstance(rep, Mapping) and "n_skipped" in rep:
            parts.append(f"{rep['n_skipped']} records skipped (report.json)")
        return "; ".join(parts)
    return _encoders_text(m.get("encoders")) if m.get("encoders") else ""


def _split_sizes(name: str, sizes: Mapping, m: Mapping) -> str:
    """A split's part sizes, e.g. "800 train / 100 val / 100 test"; an official split whose test
    images are withheld scores its dev list: "5993 train / 997 dev (scored; ...)"."""
    if scored_part(name, m.get("official_test_part")) == "dev":
        return f"{sizes.get('train')} train / {sizes.get('val')} dev (scored; test images withheld)"
    return " / ".join(f"{v} {part}" for part, v in sizes.items())


def _model_row(sm: StageMetrics, display: str, entry: Mapping) -> dict:
    variant = entry.get("variant") or {}
    return {
        "model": display,
        "source": THIS_RUN,
        "stage": sm.stage,
        "family": entry.get("family"),
        "dataset": sm.metrics.get("dataset"),
        "fusion": variant.get("fusion"),
        "personalisation": variant.get("personalisation"),
        "modality": variant.get("modality"),
        "n_test_posts": (entry.get("ranking") or {}).get("n_posts"),
        "trainable_params": entry.get("trainable_params"),
        "ms_per_step": _num(entry.get("ms_per_step")),
        "note": entry.get("_problem")
        or ("" if entry.get("ranking") else "no ranking figures recorded"),
    }


def _stage_models(run_metrics, stage) -> list[tuple[StageMetrics, str, str, dict]]:
    """(stage, name, display name, entry) of every model of `stage` (display names as in
    `all_models`)."""
    sm = run_metrics.get(stage)
    if sm is None:
        return []
    counts = Counter(n for other in run_metrics.values() for n in other.models)
    return [(sm, n, display_name(n, sm.stage, counts[n] > 1), e) for n, e in sm.models.items()]


def original_table(
    run_metrics: Mapping[str, StageMetrics], published: pd.DataFrame, k: int = 5
) -> pd.DataFrame:
    """The original project's table: accuracy (= Hit@k), recall@k, precision@k, trainable
    parameters, ms/step, for notebooks 02 and 03's models except single-modality variants
    (image+text models and modality-free baselines such as popularity), then the published rows.

    The paper does not state its K; `k` is the K of our figures (stated in the K column)."""
    cols = ["model", "source", "stage", "family", "dataset", "K", *ORIGINAL_METRICS]
    cols += ["trainable_params", "ms_per_step", "n_test_posts", "protocol", "note"]
    rows = []
    for stage in (ENCODER_DECODER, ATTENTION):
        rows += _missing_rows(run_metrics, stage, cols)
        for sm, _name, display, entry in _stage_models(run_metrics, stage):
            if (entry.get("variant") or {}).get("modality") in SINGLE_MODALITIES:
                continue
            row = _model_row(sm, display, entry)
            row["K"] = k
            for label, metric in ORIGINAL_METRICS.items():
                row[label] = _ranking_value(entry, metric, k)
            row["protocol"] = (
                f"{_run_context(sm)}; K={k} (chosen: the paper does not state K); "
                "accuracy = Hit@K as AMNN's code computes it; per-post averaged P and R"
            )
            rows.append(row)
    figures = {r["model"]: [r.get(label) for label in ORIGINAL_METRICS] for r in rows}
    for first, names in alike_across_notebooks(figures).items():  # one row naming the notebooks
        kept = next(r for r in rows if r["model"] == first)
        kept["stage"] = ", ".join(r["stage"] for r in rows if r["model"] in names)
        kept["model"] = merged_display_name(names)
        rows = [r for r in rows if r["model"] not in names[1:]]
    ours = _this_run_summary(run_metrics)[:-1] + f", K={k})"
    for row in _published_rows(published, "original", lambda m, kk: m, ours):
        row["K"] = "not stated"
        rows.append(row)
    return pd.DataFrame(rows, columns=cols)


def _ranking_columns(published: pd.DataFrame, table: str, k: int) -> dict[str, tuple]:
    """Column label -> (metric, K): Hit, P, R and F1 at `k`, then those of the published
    figures routed to `table`."""
    keys = [(m, k) for m in ("hit_rate", "precision", "recall", "f1")]
    sel = published[published.apply(route_published, axis=1) == table]
    for _, r in sel.iterrows():
        key = (r["metric"], None if pd.isna(r["k"]) else int(r["k"]))
        if key not in keys:
            keys.append(key)
    return {_label(m, kk): (m, kk) for m, kk in keys}


def design_table(
    run_metrics: Mapping[str, StageMetrics], published: pd.DataFrame, k: int = 7
) -> pd.DataFrame:
    """DESIGN Table 1: Hit, P, R, F1 at K for every notebook-02 model (fusion, personalisation,
    modality columns from each model's "variant") on all test posts; then the same models on
    the test subsets notebook 02 recorded in `extra` as {subset: {model: ranking}} (e.g.
    "without_text", "seen_users"; the `test_posts` column names the subset); then the DESIGN
    follow-up's published rows."""
    columns = _ranking_columns(published, "design", k)
    cols = ["model", "source", "stage", "family", "fusion", "personalisation", "modality"]
    cols += ["test_posts", "dataset", *columns, "mrr", "trainable_params", "n_test_posts"]
    cols += ["protocol", "note"]
    rows = _missing_rows(run_metrics, ENCODER_DECODER, cols)
    sm = run_metrics.get(ENCODER_DECODER)
    models = _stage_models(run_metrics, ENCODER_DECODER)
    for _, _name, display, entry in models:
        row = _ranking_row(sm, display, entry, columns)
        row["test_posts"] = "all"
        row["protocol"] += " (DESIGN / MaCon)"
        rows.append(row)
    if sm is not None and sm.ok:
        entries = {name: (display, entry) for _, name, display, entry in models}
        for subset, name, ranking in _subset_rankings(sm):
            display, entry = entries.get(name, (name, {}))
            row = _ranking_row(sm, display, {**entry, "ranking": ranking}, columns)
            row["test_posts"] = subset
            row.update(trainable_params=None, ms_per_step=None)  # said on its "all" row
            row["protocol"] += f"; the scored posts, subset {subset} (metrics.json extra.{subset})"
            rows.append(row)
    ours = _this_run_summary(run_metrics)
    for row in _published_rows(published, "design", _label, ours):
        rows.append({**row, **_design_variant(row["model"])})
    return pd.DataFrame(rows, columns=cols)


def _design_variant(model: str) -> dict:
    """Fusion of a published DESIGN row, read from its model name ("..., sum fusion")."""
    name = str(model).lower()
    fusion = next((f for f in ("weighted", "sum", "concat") if f"{f} fusion" in name), None)
    return {"fusion": fusion, "personalisation": True, "modality": "both", "test_posts": "all"}


def _is_ranking(d) -> bool:
    return isinstance(d, Mapping) and isinstance(d.get("hit_rate"), Mapping)


def _subset_rankings(sm: StageMetrics) -> list[tuple[str, str, dict]]:
    """(subset, model, ranking) for every `extra` entry shaped {subset: {model: ranking}}."""
    extra = sm.metrics.get("extra")
    return [
        (subset, name, ranking)
        for subset, value in (extra if isinstance(extra, Mapping) else {}).items()
        if isinstance(value, Mapping) and not _is_ranking(value)
        for name, ranking in value.items()
        if _is_ranking(ranking)
    ]


def _extra_rankings(sm: StageMetrics) -> list[tuple[str, dict]]:
    """Ranking figures a stage put in `extra` (e.g. HARRISON completion): any dict holding a
    `ranking_metrics`-shaped entry, at the first or second level."""
    found = []
    extra = sm.metrics.get("extra")
    for key, value in (extra if isinstance(extra, Mapping) else {}).items():
        if not isinstance(value, Mapping):
            continue
        if _is_ranking(value):
            found.append((key, {"ranking": value}))
        elif _is_ranking(value.get("ranking")):
            found.append((key, value))
        else:  # e.g. {"cooccurrence": ranking, "popularity": ranking, "dataset", "protocol"}
            shared = {f: value[f] for f in ("dataset", "protocol") if isinstance(value.get(f), str)}
            for sub, v in value.items():
                if _is_ranking(v):
                    found.append((f"{key} {sub}", {**shared, "ranking": v}))
                elif isinstance(v, Mapping) and _is_ranking(v.get("ranking")):
                    found.append((f"{key} {sub}", {**shared, **v}))
    return found


def baselines_table(
    run_metrics: Mapping[str, StageMetrics], published: pd.DataFrame, k: int = 7
) -> pd.DataFrame:
    """Every model of notebook 03, the caption-to-tags models of notebook 04, any other stage's
    models and ranking figures in `extra` (e.g. HARRISON completion), then HARRISON's published
    baselines (Park et al. 2016) at their own K (P@1, R@5, Hit@5 columns)."""
    columns = _ranking_columns(published, "baselines", k)
    cols = ["model", "source", "stage", "family", "modality", "dataset", *columns, "mrr"]
    cols += ["trainable_params", "ms_per_step", "n_test_posts", "protocol", "note"]
    rows = _missing_rows(run_metrics, ATTENTION, cols)
    for stage in [s for s in run_metrics if s not in (PREPROCESS, ENCODER_DECODER)]:
        for sm, _name, display, entry in _stage_models(run_metrics, stage):
            rows.append(_ranking_row(sm, display, entry, columns))
        sm = run_metrics[stage]
        for key, entry in _extra_rankings(sm) if sm.ok else []:
            row = _ranking_row(sm, key, entry, columns)
            row["family"] = row["family"] or "extra"
            if entry.get("dataset"):
                row["dataset"] = entry["dataset"]
                row["protocol"] = "; ".join(
                    [entry["dataset"], f"{stage} metrics.json extra", entry.get("protocol", "")]
                ).rstrip("; ")
            rows.append(row)
    rows += _published_rows(published, "baselines", _label, _this_run_summary(run_metrics))
    return pd.DataFrame(rows, columns=cols)


def _ranking_row(sm, display, entry, columns) -> dict:
    row = _model_row(sm, display, entry)
    for label, (m, kk) in columns.items():
        row[label] = _ranking_value(entry, m, kk)
    row["mrr"] = _num((entry.get("ranking") or {}).get("mrr"))
    row["protocol"] = f"{_run_context(sm)}; per-post averaged"
    return row


def captions_table(
    run_metrics: Mapping[str, StageMetrics], published: pd.DataFrame
) -> pd.DataFrame:
    """Caption and paragraph generators of notebook 04 (and any other stage with "captions"),
    then Show-Attend-Tell (Flickr8k captions), Krause et al. and Melas-Kyriazi et al.
    (Stanford paragraphs)."""
    cols = ["model", "source", "stage", "task", "dataset", "n_images", *CAPTION_METRICS]
    cols += ["repeated_trigrams_per_paragraph", "trainable_params", "ms_per_step", "protocol"]
    cols += ["note"]
    rows = _missing_rows(run_metrics, CAPTION, cols)
    for sm in run_metrics.values():
        for name, entry in sm.captions.items():
            row = {
                "model": name,
                "source": THIS_RUN,
                "stage": sm.stage,
                "task": entry.get("task"),
                "dataset": entry.get("dataset") or sm.metrics.get("dataset"),
                "n_images": entry.get("n_images"),
                "trainable_params": entry.get("trainable_params"),
                "ms_per_step": _num(entry.get("ms_per_step")),
                "repeated_trigrams_per_paragraph": _num(
                    entry.get("repeated_trigrams_per_paragraph")
                ),
                "note": entry.get("_problem")
                or ("METEOR not computed (no Java)" if entry.get("meteor") is None else ""),
                **{m: _num(entry.get(m)) for m in CAPTION_METRICS},
            }
            row["protocol"] = (
                f"{row['dataset']} ({sm.metrics.get('run_mode') or 'mode not recorded'} mode), "
                f"{row['n_images']} "
                f"{scored_part(sm.metrics.get('split'), sm.metrics.get('official_test_part'))} "
                "images, pycocoevalcap scorers, "
                f"{_encoders_text(sm.metrics.get('encoders'))}"
                + ("; paragraph scored as one sequence" if entry.get("task") == "paragraph" else "")
            )
            rows.append(row)

    ours = _this_run_summary(run_metrics)
    for row in _published_rows(published, "captions", lambda m, kk: m, ours):
        row["task"] = "paragraph" if row["dataset"] == "Stanford-paragraphs" else "caption"
        rows.append(row)
    order = {"caption": 0, "paragraph": 1}  # captions first, then paragraphs, else as listed
    return pd.DataFrame(rows, columns=cols).sort_values(
        "task", key=lambda s: s.map(order).fillna(2), kind="stable", ignore_index=True
    )


def build_tables(
    run_dir: str | Path | RunDir,
    k_original: int = 5,
    k_table: int = 7,
    published: pd.DataFrame | None = None,
) -> dict[str, pd.DataFrame]:
    """All comparison tables of a run, keyed by `TABLE_NAMES`; ValueError for a K the stages
    do not score (`DEFAULT_KS`), whose columns would all be empty."""
    for name, k in (("k_original", k_original), ("k_table", k_table)):
        if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k not in DEFAULT_KS:
            raise ValueError(
                f"{name} must be a K the stages score, 1 to {max(DEFAULT_KS)}; got {k!r}"
            )
    run_metrics = load_run_metrics(run_dir)
    published = load_published() if published is None else published
    return {
        "stages": stages_table(run_metrics),
        "original": original_table(run_metrics, published, k_original),
        "design": design_table(run_metrics, published, k_table),
        "baselines": baselines_table(run_metrics, published, k_table),
        "captions": captions_table(run_metrics, published),
    }


# -- the tidy frame ---------------------------------------------------------------------------
#: the tidy frame's columns (`tidy_metrics`)
TIDY_COLUMNS = ("stage", "model", "split", "metric", "k", "value")
#: the headline table's ranking metrics, in column order
HEADLINE_METRICS = ("hit_rate", "precision", "recall", "f1")


def tidy_metrics(run_metrics: Mapping[str, StageMetrics]) -> pd.DataFrame:
    """Every figure of this run as one tidy frame: one row per model x metric x split.

    Columns (`TIDY_COLUMNS`): stage; model (display name, `all_models`); split ("test" for all
    test posts, else the test subset a stage recorded in `extra`, e.g. "without_text"); metric
    (a `ranking_metrics` key, a caption metric, "trainable_params" or "ms_per_step"); k (Int64,
    NA for metrics without a K); value (float). Missing or non-numeric values are left out.

    Example:
        >>> tidy = tidy_metrics(load_run_metrics("outputs/default"))        # doctest: +SKIP
        >>> tidy.query("split == 'test' and metric == 'f1' and k == 7")     # doctest: +SKIP
    """
    rows = []

    def add(stage, model, split, metric, k, value):
        if (value := _num(value)) is not None:
            rows.append((stage, model, split, metric, k, value))

    def add_entry(stage, model, split, entry):
        for metric, value in (entry.get("ranking") or {}).items():
            if isinstance(value, Mapping):
                for k, v in value.items():
                    add(stage, model, split, metric, int(k), v)
            else:
                add(stage, model, split, metric, None, value)
        for metric in ("trainable_params", "ms_per_step", *CAPTION_METRICS):
            add(stage, model, split, metric, None, entry.get(metric))

    for stage, sm in run_metrics.items():
        displays = {}
        for _, name, display, entry in _stage_models(run_metrics, stage):
            add_entry(stage, display, "test", entry)
            displays[name] = display
        for subset, name, ranking in _subset_rankings(sm) if sm.ok else []:
            add_entry(stage, displays.get(name, name), subset, {"ranking": ranking})
        for name, entry in sm.captions.items():
            add_entry(stage, name, "test", entry)
    df = pd.DataFrame(rows, columns=list(TIDY_COLUMNS))
    df["k"] = df["k"].astype("Int64")
    return df


def headline_table(tidy: pd.DataFrame, k: int = 7) -> pd.DataFrame:
    """This run's hashtag models on all test posts: Hit, P, R, F1 at `k`, MRR, trainable
    parameters and notebook, best F1@k first (a pivot of `tidy_metrics`). A model that several
    notebooks score with the same figures (popularity in 02 and 03) is one row naming both."""
    test = tidy[tidy["split"] == "test"]
    at_k = test[test["metric"].isin(HEADLINE_METRICS) & (test["k"] == k)]
    wide = at_k.assign(column=[_label(m, k) for m in at_k["metric"]]).pivot_table(
        index=["model", "stage"], columns="column", values="value", sort=False
    )
    labels = [_label(m, k) for m in HEADLINE_METRICS]
    once = test[test["k"].isna()].pivot_table(
        index=["model", "stage"], columns="metric", values="value", sort=False
    )
    wide = wide.reindex(columns=labels).join(once.reindex(columns=["mrr", "trainable_params"]))
    wide = wide.sort_values(labels[-1], ascending=False, kind="stable").reset_index()
    figures = dict(zip(wide["model"], wide[[*labels, "mrr"]].itertuples(index=False), strict=True))
    for first, names in alike_across_notebooks(figures).items():  # one row naming the notebooks
        stages = ", ".join(wide.loc[wide["model"].isin(names), "stage"])
        wide = wide[~wide["model"].isin(names[1:])]
        model = split_display_name(first)[0]
        wide.loc[wide["model"] == first, ["model", "stage"]] = [model, stages]
    return wide.reset_index(drop=True)[["model", "stage", *labels, "mrr", "trainable_params"]]


# -- checks -----------------------------------------------------------------------------------
def uncovered_published(
    tables: Mapping[str, pd.DataFrame], published: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Published figures that no table shows (empty when every one appears, as it should).

    A figure is shown when a row of its routed table has its source and model and holds its
    value in the column of its metric at its K."""
    published = load_published() if published is None else published
    missing = []
    for i, r in published.iterrows():
        table = tables.get(route_published(r))
        label = _label(r["metric"], r["k"])
        ok = False
        if table is not None and label in table.columns:
            hit = table[(table["source"] == r["source"]) & (table["model"] == r["model"])]
            ok = any(_num(v) is not None and abs(_num(v) - r["value"]) < 1e-12 for v in hit[label])
        if not ok:
            missing.append(i)
    return published.loc[missing]


def models_missing_from_tables(
    tables: Mapping[str, pd.DataFrame], run_metrics: Mapping[str, StageMetrics]
) -> list[str]:
    """Models of the run's metrics.json files that no table lists (should be empty)."""
    shown = set()
    for name, df in tables.items():
        if name != "stages" and "model" in df.columns:
            shown |= set(df["model"])
    names = list(all_models(run_metrics)) + [n for sm in run_metrics.values() for n in sm.captions]
    return [n for n in names if n not in shown]


def plot_inputs(run_metrics: Mapping[str, StageMetrics]) -> dict:
    """What `hashtag_kit.reporting.plots` needs: {"rankings": {name: ranking}, "models": {name:
    entry}, "groups": {name: "notebook NN"}, "histories": {names: history}} over every hashtag model
    and caption model. Models with identical histories (one network decoded greedily and with
    beam search, or reused for captions -> tags) share one entry named "a / b"; a model that
    several notebooks score alike (`alike_across_notebooks`) one ranking, "popularity (02, 03)",
    drawn in the first notebook's style."""
    models = all_models(run_metrics)
    named = [(n, e["history"]) for n, e in models.items() if e.get("history")]
    for sm in run_metrics.values():
        named += [(n, e["history"]) for n, e in sm.captions.items() if e.get("history")]
    groups: dict[str, list] = {}
    for n, h in named:
        groups.setdefault(json.dumps(h, sort_keys=True, default=str), [h, []])[1].append(n)
    histories = {" / ".join(names): h for h, names in groups.values()}
    groups = {}
    for sm in run_metrics.values():
        for _, _name, display, _entry in _stage_models(run_metrics, sm.stage):
            groups[display] = f"notebook {sm.stage[:2]}" if sm.stage[:2].isdigit() else sm.stage
    rankings = {n: e.get("ranking") for n, e in models.items()}
    ranked = {n: r for n, r in rankings.items() if r}
    for first, names in alike_across_notebooks(ranked).items():
        merged = merged_display_name(names)  # drawn where the first one was
        rankings = {
            merged if n == first else n: r for n, r in rankings.items() if n not in names[1:]
        }
        groups[merged] = groups[first]
    return {"groups": groups, "rankings": rankings, "models": models, "histories": histories}


#: columns shown with one decimal (times)
ONE_DECIMAL_COLUMNS = {"ms_per_step", "wall time (s)"}
#: columns shown as whole numbers
INTEGER_COLUMNS = {"trainable_params", "n_test_posts", "n_images", "seed", "models", "captions"}


def format_cell(value, column: str = "") -> str:
    """A table cell as text: "–" for missing, thousands separators for counts, 3 decimals for
    metrics (1 decimal for ms/step)."""
    if value is None or value is pd.NA:
        return "–"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, numbers.Real):
        if math.isnan(value):
            return "–"
        if column in INTEGER_COLUMNS or isinstance(value, numbers.Integral):
            return f"{int(round(value)):,}"
        return f"{value:.1f}" if column in ONE_DECIMAL_COLUMNS else f"{value:.3f}"
    return str(value)
