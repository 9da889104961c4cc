"""Figures for comparing hashtag recommenders: metrics vs K, parameters vs F1, training curves;
and attention over an image (`draw_attention` on one axis, `plot_attention` per word).

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
import textwrap
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure
from PIL import Image

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
    fig = Figure(figsize=(9, 5.5), layout="constrained")
    ax = fig.subplots()
    skipped, points = [], []
    for i, (name, entry) in enumerate(models.items()):
        params = (entry or {}).get("trainable_params")
        f1 = ((entry or {}).get("ranking") or {}).get("f1", {}).get(str(k))
        if not params or f1 is None:
            skipped.append(name)
            continue
        ax.scatter([params], [f1], marker=_MARKERS[i % len(_MARKERS)], s=50)
        points.append((params, f1, name))
    # labels of models about as large (within 1.6x) are stacked at least 11 points apart, so
    # variants of one model (same parameter count, close F1) stay readable
    ys = [f1 for _, f1, _ in points] or [0.0]
    per_unit = 300 / max(max(ys) - min(ys), 0.05)  # points per F1 unit (axes ~300 pt tall)
    placed: list[tuple[float, float]] = []  # (parameters, label height in points)
    for params, f1, name in sorted(points, key=lambda p: p[1]):
        y = f1 * per_unit + 4
        for px, py in sorted(placed, key=lambda p: p[1]):
            if max(px, params) / min(px, params) < 1.6 and abs(y - py) < 11:
                y = py + 11
        placed.append((params, y))
        offset = (5, y - f1 * per_unit)
        ax.annotate(name, (params, f1), textcoords="offset points", xytext=offset, fontsize=8)
    ax.set_xscale("log")
    ax.margins(x=0.35)  # room for the labels right of the points
    ax.set_xlabel("trainable parameters (log scale)")
    ax.set_ylabel(f"F1@{k}")
    ax.grid(alpha=0.3, which="both")
    ax.set_title(title or f"Trainable parameters vs F1@{k}")
    if skipped:
        text = "not shown (no parameter count or F1): " + ", ".join(skipped)
        fig.supxlabel(textwrap.fill(text, 150), fontsize=7)
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
        ax.set_title(textwrap.fill(name, 48), fontsize=9)  # names sharing a run are long
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    if title:
        fig.suptitle(title)
    return fig


def draw_attention(ax, image, weights, grid_hw=None, title: str | None = None) -> None:
    """Draw `image` on `ax` with attention `weights` over its grid laid on top.

    Args:
        ax: a matplotlib axis.
        image: (H, W, 3) uint8 image.
        weights: (R,) attention weights over the R = h*w grid regions (row-major, as the
            encoders' grids); scaled to their maximum and resized bilinearly to the image (the
            grid covers the encoder's centre crop, so the overlay is approximate at the borders).
        grid_hw: (h, w) of the grid; default the square root of R.
        title: the axis title (e.g. a generated word, or a post's tags).
    """
    weights = np.asarray(weights, dtype="float32").ravel()
    h, w = grid_hw or (int(round(math.sqrt(weights.size))),) * 2
    if h * w != weights.size:
        raise ValueError(f"grid {h}x{w} does not match {weights.size} attention weights")
    m = weights.reshape(h, w) / max(float(weights.max()), 1e-9)
    size = (image.shape[1], image.shape[0])
    up = np.asarray(Image.fromarray((m * 255).astype("uint8")).resize(size, Image.BILINEAR))
    ax.imshow(image)
    ax.imshow(up, cmap="jet", alpha=0.45)
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=9)


def plot_attention(
    image, words: Sequence[str], weights, grid_hw=None, max_words: int = 12, title=None
) -> Figure:
    """The image, then its attention weights for each generated word (`draw_attention`).

    Args:
        image: (H, W, 3) uint8 image.
        words: the generated words (one per attention map).
        weights: (len(words), R) attention weights over the R = h*w grid regions.
        grid_hw: (h, w) of the grid; default the square root of R.
        max_words: at most this many words' maps.
        title: a title above the panels (e.g. the file name and caption).
    """
    n = min(len(words), max_words)
    cols = min(n + 1, 5)
    rows = math.ceil((n + 1) / cols)
    fig = Figure(figsize=(2.4 * cols, 2.5 * rows + (0.35 if title else 0)), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    axes[0].imshow(image)
    axes[0].set_title("image", fontsize=9)
    for ax, word, w in zip(axes[1:], words[:n], np.asarray(weights)[:n], strict=False):
        draw_attention(ax, image, w, grid_hw, title=word)
    for ax in axes:
        ax.set_axis_off()
    if title:  # above the panels' own titles, not over them
        fig.suptitle(title, fontsize=10)
    return fig


def figure_to_png(fig: Figure, dpi: int = 100) -> bytes:
    """PNG bytes of a figure (for embedding in HTML or writing to disk)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()
