"""Figures for comparing hashtag recommenders: metrics vs K, parameters vs F1, training curves.

Every function returns a `matplotlib.figure.Figure` built without pyplot, so it works under any
backend (Agg in papermill and tests; inline in JupyterLab, where `display(fig)` shows it) and
never leaks open figures. `figure_to_png(fig)` gives PNG bytes for the HTML report.

Inputs follow the `metrics.json` schema (see `hashtag_kit.run`): a model's "ranking" entry is the
output of `hashtag_kit.evaluation.ranking.ranking_metrics` (metric -> {"K": value}), its "history" is
`{"loss": [...], "val_loss": [...]}` (any other series are drawn too).

Example:
    >>> from hashtag_kit.evaluation.ranking import ranking_metrics
    >>> r = ranking_metrics([["a", "b"], ["c", "d"]], [{"a"}, {"d"}], ks=[1, 2])
    >>> fig = plot_metrics_vs_k({"toy": r}, title="toy")
    >>> [ax.get_title() for ax in fig.axes]
    ['Hit rate@K', 'Precision@K', 'Recall@K', 'F1@K']
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping

from matplotlib.figure import Figure

#: the four panels of `plot_metrics_vs_k`: key in ranking_metrics output -> panel title
RANKING_PANELS = {
    "hit_rate": "Hit rate@K",
    "precision": "Precision@K",
    "recall": "Recall@K",
    "f1": "F1@K",
}

#: 7 markers against 10 default colours: distinct (colour, marker) pairs for up to 70 models
_MARKERS = "osD^v<p"
_LINESTYLES = ("-", "--", ":", "-.")


def _series(ranking: Mapping, metric: str) -> tuple[list[int], list[float]]:
    """(Ks, values) of one metric of a ranking_metrics dict, sorted by K; empty when absent."""
    values = (ranking or {}).get(metric) or {}
    pairs = sorted((int(k), float(v)) for k, v in values.items() if v is not None)
    return [k for k, _ in pairs], [v for _, v in pairs]


def plot_metrics_vs_k(
    models: Mapping[str, Mapping | None],
    title: str | None = None,
    groups: Mapping[str, str] | None = None,
) -> Figure:
    """Hit rate, precision, recall and F1 against K, one line per model, in four panels.

    Args:
        models: model name -> `hashtag_kit.evaluation.ranking.ranking_metrics(...)` output. A model whose
            value is None (or lacks a metric) is left out of that panel.
        title: figure title.
        groups: optional model name -> group (e.g. the notebook that trained it); the models of
            one group share a line style ("-", "--", ":", "-." in order of first appearance),
            named in the legend's title.

    Returns:
        A 2x2 `Figure`; the panels' titles are the values of `RANKING_PANELS`.
    """
    fig = Figure(figsize=(11, 7.5), layout="constrained")
    axes = fig.subplots(2, 2, sharex=True).ravel()
    group_style: dict[str, str] = {}
    for g in (groups or {}).values():
        group_style.setdefault(g, _LINESTYLES[len(group_style) % len(_LINESTYLES)])
    legend: dict[str, object] = {}
    for ax, (metric, panel) in zip(axes, RANKING_PANELS.items(), strict=True):
        for i, (name, ranking) in enumerate(models.items()):
            ks, vals = _series(ranking, metric)
            if ks:
                style = group_style.get((groups or {}).get(name), "-")
                (line,) = ax.plot(
                    ks, vals, style, marker=_MARKERS[i % len(_MARKERS)], ms=4, label=name
                )
                legend.setdefault(name, line)
        ax.set_title(panel)
        ax.set_xlabel("K")
        ax.grid(alpha=0.3)
        ax.set_ylim(bottom=0)
    if legend:
        order = [n for n in models if n in legend]
        legend_title = "   ".join(f"{st}  {g}" for g, st in group_style.items()) or None
        fig.legend(
            [legend[n] for n in order],
            order,
            loc="outside lower center",
            ncols=min(3, len(order)),
            title=legend_title,
            fontsize=8,
        )
    else:
        axes[0].text(0.5, 0.5, "no ranking metrics", ha="center", transform=axes[0].transAxes)
    if title:
        fig.suptitle(title)
    return fig


def plot_params_vs_f1(
    models: Mapping[str, Mapping],
    k: int = 7,
    title: str | None = None,
) -> Figure:
    """Trainable parameters (log x) against F1@K, one labelled point per model.

    Args:
        models: model name -> a model entry of metrics.json (needs "trainable_params" and
            "ranking"). Models without a parameter count (e.g. popularity baselines, null) or
            without F1@K are listed under the plot as "not shown".
        k: the K of F1@K (7 as in the DESIGN follow-up's Table 1).
        title: figure title (default "Trainable parameters vs F1@K").
    """
    fig = Figure(figsize=(7.5, 5), layout="constrained")
    ax = fig.subplots()
    skipped = []
    for i, (name, entry) in enumerate(models.items()):
        params = (entry or {}).get("trainable_params")
        f1 = ((entry or {}).get("ranking") or {}).get("f1", {}).get(str(k))
        if not params or f1 is None:
            skipped.append(name)
            continue
        ax.scatter([params], [f1], marker=_MARKERS[i % len(_MARKERS)], s=50)
        ax.annotate(name, (params, f1), textcoords="offset points", xytext=(5, 4), fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("trainable parameters (log scale)")
    ax.set_ylabel(f"F1@{k}")
    ax.grid(alpha=0.3, which="both")
    ax.set_title(title or f"Trainable parameters vs F1@{k}")
    if skipped:
        fig.supxlabel("not shown (no parameter count or F1): " + ", ".join(skipped), fontsize=7)
    return fig


def plot_training_curves(
    histories: Mapping[str, Mapping[str, list] | None],
    title: str | None = None,
    max_cols: int = 3,
) -> Figure:
    """Loss curves per model (one panel each; solid = training, dashed = validation).

    Args:
        histories: model name -> Keras-style history dict ({"loss": [...], "val_loss": [...],
            ...}). Models with None or an empty history are left out; when none is left the
            figure says so.
        title: figure title.
        max_cols: panels per row.
    """
    items = [(n, h) for n, h in histories.items() if h and any(h.get(s) for s in h)]
    n = max(1, len(items))
    cols = min(max_cols, n)
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(4.2 * cols, 3.2 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax in axes[len(items) :]:
        ax.set_axis_off()
    if not items:
        axes[0].set_axis_on()
        axes[0].text(0.5, 0.5, "no training history recorded", ha="center", va="center")
    for ax, (name, hist) in zip(axes, items, strict=False):
        for series, values in hist.items():
            if not values or not isinstance(values, (list, tuple)):
                continue
            epochs = range(1, len(values) + 1)
            style = "--" if series.startswith("val_") else "-"
            ax.plot(epochs, [float(v) for v in values], style, marker=".", label=series)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    if title:
        fig.suptitle(title)
    return fig


def figure_to_png(fig: Figure, dpi: int = 100) -> bytes:
    """PNG bytes of a figure (for embedding in HTML or writing to disk)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()
