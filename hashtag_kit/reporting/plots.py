"""Figures of a run: metrics vs K, parameters vs F1, training curves, the dataset overview,
images with their captions, and attention over an image (`draw_attention` on one axis,
`plot_attention` per word, `plot_image_attention` per image).

Every function returns a `matplotlib.figure.Figure` (a `KitFigure`) built without pyplot,
so it works under any backend (Agg in papermill and tests; inline in JupyterLab) and never
leaks open figures; `display(fig)` shows it as a PNG in either. `figure_to_png(fig)` gives
PNG bytes for the HTML report.

Inputs follow the `metrics.json` schema (see `hashtag_kit.run`): a model's "ranking" entry is the
output of `hashtag_kit.evaluation.ranking.ranking_metrics` (metric -> {"K": value}), its "history"
is `{"loss": [...], "val_loss": [...]}` (any other series are drawn too).

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

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle
from matplotlib.textpath import text_to_path
from matplotlib.ticker import MaxNLocator
from PIL import Image

from hashtag_kit.encoders.image import CROP_FRACTION, centre_crop_box

#: the four panels of `plot_metrics_vs_k`: key in ranking_metrics output -> panel title
RANKING_PANELS = {
    "hit_rate": "Hit rate@K",
    "precision": "Precision@K",
    "recall": "Recall@K",
    "f1": "F1@K",
}

#: series colours: tab20's ten dark shades first, then its ten light ones; against 7 markers
#: (`series_style`) that gives distinct (colour, marker) pairs for up to 140 models
_COLOURS = [matplotlib.colormaps["tab20"](i) for i in (*range(0, 20, 2), *range(1, 20, 2))]
_MARKERS = "osD^v<p"
_LINESTYLES = ("-", "--", ":", "-.")
#: colour map of the attention overlays (weights scaled to their maximum, so 0..1)
ATTENTION_CMAP = "jet"


class KitFigure(Figure):
    """A `Figure` that IPython's `display` shows as a PNG under any backend (without pyplot the
    inline backend's formatter may not be registered yet, and a plain Figure shows as text)."""

    def _repr_png_(self) -> bytes:
        return figure_to_png(self)


def series_style(i: int) -> tuple[tuple, str]:
    """(colour, marker) of the i-th series of a figure: no two of the first 140 alike."""
    return _COLOURS[i % len(_COLOURS)], _MARKERS[i % len(_MARKERS)]


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
        models: model name -> `hashtag_kit.evaluation.ranking.ranking_metrics(...)` output. A model
            whose value is None (or lacks a metric) is left out of that panel.
        title: figure title.
        groups: optional model name -> group (e.g. the notebook that trained it); the models of
            one group share a line style ("-", "--", ":", "-." in order of first appearance),
            keyed by a second legend of line samples right of the panels.

    Returns:
        A 2x2 `Figure`; the panels' titles are the values of `RANKING_PANELS`. Each model has its
        own (colour, marker) pair (`series_style`); only the bottom row is labelled "K".
    """
    fig = KitFigure(figsize=(11, 7.5), layout="constrained")
    axes = fig.subplots(2, 2, sharex=True).ravel()
    group_style: dict[str, str] = {}
    for g in (groups or {}).values():
        group_style.setdefault(g, _LINESTYLES[len(group_style) % len(_LINESTYLES)])
    legend: dict[str, object] = {}
    for j, (ax, (metric, panel)) in enumerate(zip(axes, RANKING_PANELS.items(), strict=True)):
        for i, (name, ranking) in enumerate(models.items()):
            ks, vals = _series(ranking, metric)
            if ks:
                colour, marker = series_style(i)
                style = group_style.get((groups or {}).get(name), "-")
                (line,) = ax.plot(ks, vals, style, color=colour, marker=marker, ms=4, label=name)
                legend.setdefault(name, line)
        ax.set_title(panel)
        ax.set_xlabel("K" if j >= 2 else "")  # the top row's tick labels are hidden
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.set_ylim(bottom=0)
    if legend:
        order = [n for n in models if n in legend]
        fig.legend(
            [legend[n] for n in order],
            order,
            loc="outside lower center",
            ncols=min(3, len(order)),
            fontsize=8,
        )
    else:
        axes[0].text(0.5, 0.5, "no ranking metrics", ha="center", transform=axes[0].transAxes)
    if group_style:
        fig.legend(
            [Line2D([], [], color="0.25", linestyle=st) for st in group_style.values()],
            list(group_style),
            loc="outside right upper",
            title="line style",
            fontsize=8,
            title_fontsize=8,
            handlelength=3,
        )
    if title:
        fig.suptitle(title)
    return fig


def _overlap(a, b) -> float:
    """Area shared by two (x0, y0, x1, y1) boxes."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return max(w, 0.0) * max(h, 0.0)


def _crosses(segment, box) -> bool:
    """Whether the segment ((x0, y0), (x1, y1)) passes through the (x0, y0, x1, y1) box."""
    (ax_, ay), (bx, by) = segment
    t = np.linspace(0, 1, 25)
    x, y = ax_ + t * (bx - ax_), ay + t * (by - ay)
    return bool(np.any((box[0] < x) & (x < box[2]) & (box[1] < y) & (y < box[3])))


def _label_points(ax, points: Sequence[tuple[float, float]], labels: Sequence[str], **text_kw):
    """Write `labels[i]` next to `points[i]` (data coordinates) so that no label overlaps
    another label or a marker and every label stays inside the axes; a label pushed away from its
    point is joined to it by a leader line that, where it can, crosses no other label. Call after
    the figure's layout is final.

    Candidate places are tried nearest first (8 directions on growing rings, right of the point
    first); when none is free, the one with the least overlap, then fewest crossings.
    """
    px_per_pt = ax.get_figure(root=True).dpi / 72
    frame = ax.get_window_extent()
    xy = ax.transData.transform(np.asarray(points, dtype="float64").reshape(-1, 2))
    r_marker = 5 * px_per_pt  # half the side of a size-50 marker, plus a margin
    markers = [(x - r_marker, y - r_marker, x + r_marker, y + r_marker) for x, y in xy]
    placed: list[tuple] = []  # label boxes
    leaders: list[tuple] = []  # (point, label centre) of the labels with a leader line
    sizes = []
    for label in labels:  # measure each label once
        t = ax.text(0, 0, label, **text_kw)
        box = t.get_window_extent()
        sizes.append((box.width + 2, box.height + 1))
        t.remove()
    directions = [
        (math.cos(a), math.sin(a)) for a in np.radians([0, 45, -45, 90, -90, 135, -135, 180])
    ]
    for i, ((x, y), label, (w, h)) in enumerate(zip(xy, labels, sizes, strict=True)):
        others = [m for j, m in enumerate(markers) if j != i]
        best, best_cost, best_ring = None, math.inf, 0
        near = r_marker + 0.5 * math.hypot(w, h) + 1
        for ring, radius in enumerate(
            near * np.array([1.0, 1.7, 2.5, 3.4, 4.5, 6.0, 7.8, 10.0, 13.0])
        ):
            for dx, dy in directions:
                cx, cy = x + radius * dx, y + radius * dy
                box = (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
                outside = box[0] < frame.x0 + 2 or box[2] > frame.x1 - 2
                outside = outside or box[1] < frame.y0 + 2 or box[3] > frame.y1 - 2
                # an overlap (per square pixel) costs more than a crossing leader line
                cost = 100 * sum(_overlap(box, b) for b in [*placed, markers[i], *others])
                cost += 1e6 if outside else 0
                if ring:  # its leader line should cross no label, nor cross under this one
                    cost += 30 * sum(_crosses(((x, y), (cx, cy)), b) for b in placed)
                cost += 30 * sum(_crosses(seg, box) for seg in leaders)
                cost += ring * 1e-3  # equal overlap: the nearer place
                if cost < best_cost:
                    best, best_cost, best_ring = box, cost, ring
            if best_cost < 1:  # a free place on this ring
                break
        placed.append(best)
        centre = ((best[0] + best[2]) / 2, (best[1] + best[3]) / 2)
        if best_ring:
            leaders.append(((x, y), centre))
        leader = {"arrowstyle": "-", "lw": 0.6, "color": "0.35", "shrinkA": 0, "shrinkB": 4}
        ax.annotate(
            label,
            ax.transData.inverted().transform((x, y)),
            xytext=((centre[0] - x) / px_per_pt, (centre[1] - y) / px_per_pt),
            textcoords="offset points",
            ha="center",
            va="center",
            arrowprops=leader if best_ring else None,
            **text_kw,
        )


def plot_params_vs_f1(
    models: Mapping[str, Mapping], k: int = 7, title: str | None = None
) -> Figure:
    """Trainable parameters (log x) against F1@K, one numbered point per model.

    The points are numbered by F1@K, best first (placed by `_label_points`), and the key right
    of the axes names them (number, marker and colour).

    Args:
        models: model name -> a model entry of metrics.json (needs "trainable_params" and
            "ranking"). Models without a parameter count (e.g. popularity baselines, null) or
            without F1@K are listed under the plot as "not shown".
        k: the K of F1@K (7 as in the DESIGN follow-up's Table 1).
        title: figure title (default "Trainable parameters vs F1@K").
    """
    fig = KitFigure(figsize=(11, 5.5), layout="constrained")
    ax = fig.subplots()
    skipped, points = [], []
    for i, (name, entry) in enumerate(models.items()):
        params = (entry or {}).get("trainable_params")
        f1 = ((entry or {}).get("ranking") or {}).get("f1", {}).get(str(k))
        if not params or f1 is None:
            skipped.append(name)
            continue
        points.append((params, f1, name, series_style(i)))
    points.sort(key=lambda p: -p[1])  # numbered best first
    handles = []
    for number, (params, f1, name, (colour, marker)) in enumerate(points, start=1):
        ax.scatter([params], [f1], color=colour, marker=marker, s=50, zorder=3)
        handles.append(
            Line2D([], [], color=colour, marker=marker, ls="none", label=f"{number}. {name}")
        )
    ax.set_xscale("log")
    ax.margins(x=0.12, y=0.12)  # room for the numbers around the outer points
    ax.set_xlabel("trainable parameters (log scale)")
    ax.set_ylabel(f"F1@{k}")
    ax.grid(alpha=0.3, which="both")
    ax.set_title(title or f"Trainable parameters vs F1@{k}")
    if handles:
        fig.legend(
            handles=handles,
            loc="outside right upper",
            fontsize=8,
            title=f"models, by F1@{k}",
            title_fontsize=8,
        )
    if skipped:
        text = "not shown (no parameter count or F1): " + ", ".join(skipped)
        fig.supxlabel(textwrap.fill(text, 170), fontsize=7)
    if points:
        fig.draw_without_rendering()  # the final layout: labels are placed in pixels
        fig.set_layout_engine("none")  # and it stays as it is
        labels = [str(n) for n in range(1, len(points) + 1)]
        _label_points(ax, [(p, f) for p, f, _, _ in points], labels, fontsize=8)
    return fig


def plot_training_curves(
    histories: Mapping[str, Mapping[str, list] | None],
    title: str | None = None,
    max_cols: int = 3,
    one_panel: bool = False,
    ylabel: str | None = None,
) -> Figure:
    """Loss curves against the epoch (1, 2, ...; integer ticks): solid = training, dashed =
    validation; a series and its `val_` twin share a colour. A series whose name does not end in
    "loss" is a score (e.g. "val_bleu4", `captioning.DevBleu`): dotted, against a right-hand axis.

    Args:
        histories: model name -> Keras-style history dict ({"loss": [...], "val_loss": [...],
            ...}). Models with None or an empty history are left out; when none is left the
            figure says so.
        title: figure title.
        max_cols: panels per row.
        one_panel: all models in one panel, one colour per model (lines named "<model> train"
            and "<model> val" for the loss, "<model> <series>" for other series), instead of
            one panel per model.
        ylabel: the y axis label (e.g. "cross-entropy per word"); None leaves it empty.
    """
    items = [(n, h) for n, h in histories.items() if h and any(h.get(s) for s in h)]
    n = 1 if one_panel else max(1, len(items))
    cols = min(max_cols, n)
    rows = math.ceil(n / cols)
    size = (7.0, 3.8) if one_panel else (4.2 * cols, 3.2 * rows)
    fig = KitFigure(figsize=size, layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    shown = axes[: max(1, len(items))]  # one panel in all, or one per model
    for ax in axes[len(shown) :]:
        ax.set_axis_off()
    if not items:
        axes[0].text(0.5, 0.5, "no training history recorded", ha="center", va="center")
    colours: dict[tuple, int] = {}
    scores: dict[int, Axes] = {}  # panel -> its right-hand axis for scores (not losses)
    for i, (name, hist) in enumerate(items):
        ax = axes[0 if one_panel else i]
        for series, values in hist.items():
            if not values or not isinstance(values, (list, tuple)):
                continue
            base = series.removeprefix("val_")
            # one colour per model in one panel; per series (and its val_ twin) in a panel each
            colour = colours.setdefault((name,) if one_panel else (i, base), len(colours))
            label = series
            if one_panel:
                kind = ("val" if series != base else "train") if base == "loss" else series
                label = f"{name} {kind}"
            if series.endswith("loss"):
                target, style, marker = ax, "--" if series != base else "-", "."
            else:  # a score (e.g. val_bleu4) has its own scale
                if id(ax) not in scores:
                    scores[id(ax)] = ax.twinx()
                    scores[id(ax)].set_ylabel("score (dotted)", fontsize=8)
                target, style, marker = scores[id(ax)], ":", "x"
            target.plot(
                range(1, len(values) + 1),
                [float(v) for v in values],
                style,
                color=series_style(colour)[0],
                marker=marker,
                label=label,
            )
        if not one_panel:
            ax.set_title(textwrap.fill(name, 48), fontsize=9)  # names sharing a run are long
    for i, ax in enumerate(shown):
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if ylabel and i % cols == 0:
            ax.set_ylabel(ylabel)
        if items:
            ax.grid(alpha=0.3)
            twin = scores.get(id(ax))
            lines = ax.get_lines() + (twin.get_lines() if twin else [])
            ax.legend(handles=lines, fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10 if one_panel else None)
    return fig


def _integer_hist(ax, values: Sequence[int], max_bars: int = 60) -> None:
    """Bars of counts of integer `values`, centred on the integers (bins of several integers,
    centred on their middle, when the range needs more than `max_bars` bars)."""
    values = np.asarray(list(values), dtype="int64")
    if values.size == 0:
        ax.text(0.5, 0.5, "none", ha="center", va="center", transform=ax.transAxes)
        return
    lo, hi = int(values.min()), int(values.max())
    width = max(1, math.ceil((hi - lo + 1) / max_bars))
    edges = np.arange(lo - 0.5, hi + width + 0.5, width)
    counts, _ = np.histogram(values, bins=edges)
    ax.bar((edges[:-1] + edges[1:]) / 2, counts, width=0.85 * width)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def plot_dataset_overview(
    tag_counts: Sequence[int],
    tags_per_post: Sequence[int],
    caption_words: Sequence[int],
    coverage: Mapping[str, int],
) -> Figure:
    """Notebook 01's first look at a dataset, four panels: posts per tag against the tag's
    rank (log-log, the long tail), tags per post and caption length in words (integer bins),
    and how many posts have which modality.

    Args:
        tag_counts: posts per tag, any order.
        tags_per_post: the number of hashtags of each post.
        caption_words: the number of words of each post's caption (posts with text).
        coverage: modality (e.g. "image+text") -> posts.
    """
    fig = KitFigure(figsize=(18, 3.6), layout="constrained")
    axes = fig.subplots(1, 4)
    counts = np.array(sorted(tag_counts, reverse=True))
    axes[0].loglog(np.arange(1, len(counts) + 1), counts, marker=".", linestyle="none")
    axes[0].set(title="tag frequency (long tail)", xlabel="rank")
    _integer_hist(axes[1], tags_per_post)
    axes[1].set(title="tags per post", xlabel="tags")
    _integer_hist(axes[2], caption_words)
    axes[2].set(title="caption length", xlabel="words")
    axes[3].bar(list(coverage), list(coverage.values()))
    axes[3].set(title="modality coverage")
    for ax in axes:
        ax.set_ylabel("posts")
    return fig


def _show_image(ax, image, fontsize: int = 8) -> None:
    """An image on `ax`, or, for a str (e.g. an unreadable file's `ImageError` message), that
    message wrapped in the panel."""
    if isinstance(image, str):
        ax.text(0.5, 0.5, textwrap.fill(image, 40), ha="center", va="center", fontsize=fontsize)
    else:
        ax.imshow(image)
    ax.set_axis_off()


def _wrap(text: str, width_pt: float, fontsize: float, indent: str = "    ") -> str:
    """`text` broken into lines at most `width_pt` points wide in the default font (measured,
    not estimated from a character count); continuation lines are indented."""
    prop = FontProperties(size=fontsize)

    def width(s: str) -> float:
        return text_to_path.get_text_width_height_descent(s, prop, ismath=False)[0]

    lines, line = [], ""
    for word in text.split():
        candidate = f"{line} {word}" if line else (indent if lines else "") + word
        if not line or width(candidate) <= width_pt:
            line = candidate
        else:
            lines.append(line)
            line = indent + word
        while width(line) > width_pt and len(line) > len(indent) + 1:  # a word wider than a line
            cut = len(line) - 1
            while cut > len(indent) + 1 and width(line[:cut]) > width_pt:
                cut -= 1
            lines.append(line[:cut])
            line = indent + line[cut:]
    return "\n".join([*lines, line])


def plot_caption_samples(
    images: Sequence,
    captions: Sequence[Mapping[str, str]],
    max_cols: int = 3,
    panel_width: float = 4.2,
    fontsize: int = 9,
    title: str | None = None,
) -> Figure:
    """Images with labelled captions under them, up to `max_cols` per row.

    Each caption is one line per label ("attention: ...", "merge: ...", "reference: ..."),
    wrapped to the panel's width; every row of text gets the height its longest block needs,
    so nothing is clipped.

    Args:
        images: per sample an (H, W, 3) uint8 image, or a str drawn in its place (the message
            of an unreadable file's `ImageError`).
        captions: per sample, label -> text, in the order to show.
        max_cols: samples per row.
        panel_width: inches per sample.
        fontsize: of the captions.
        title: figure title.
    """
    if len(images) != len(captions):
        raise ValueError(f"{len(images)} images but {len(captions)} captions")
    n = len(images)
    cols = min(max_cols, max(n, 1))
    rows = max(1, math.ceil(n / cols))
    blocks = [
        "\n".join(
            _wrap(f"{label}: {text}", panel_width * 72 - 18, fontsize) for label, text in c.items()
        )
        for c in captions
    ]
    line_in = 1.3 * fontsize / 72  # inches per text line
    heights = []
    for r in range(rows):
        lines = max([b.count("\n") + 1 for b in blocks[r * cols : (r + 1) * cols]] or [1])
        heights += [0.75 * panel_width, lines * line_in + 0.1]
    fig = KitFigure(
        figsize=(panel_width * cols, sum(heights) + (0.4 if title else 0) + 0.1),
        layout="constrained",
    )
    grid = fig.add_gridspec(2 * rows, cols, height_ratios=heights)
    if not n:
        ax = fig.add_subplot(grid[:, :])
        _show_image(ax, "no image to show")
    for i, (image, block) in enumerate(zip(images, blocks, strict=True)):
        r, c = divmod(i, cols)
        image_ax = fig.add_subplot(grid[2 * r, c])
        image_ax.set_anchor("SW")  # above its caption's first letter
        _show_image(image_ax, image, fontsize)
        text_ax = fig.add_subplot(grid[2 * r + 1, c])
        text_ax.set_axis_off()
        text_ax.text(
            0, 1, block, va="top", fontsize=fontsize, linespacing=1.2, transform=text_ax.transAxes
        )
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def _attention_colorbar(fig, axes) -> None:
    """One small colour bar for the attention overlays `draw_attention` drew on `axes` (an
    axis, or a list of them sharing the bar)."""
    several = isinstance(axes, (list, tuple))
    bar = fig.colorbar(
        ScalarMappable(Normalize(0, 1), ATTENTION_CMAP),
        ax=axes,
        fraction=0.02 if several else 0.046,
        shrink=0.5 if several else 0.8,
        pad=0.02,
        ticks=[0, 0.5, 1],
    )
    bar.set_label("weight / max weight", fontsize=7)
    bar.ax.tick_params(labelsize=7)


def draw_attention(
    ax,
    image,
    weights,
    grid_hw=None,
    title: str | None = None,
    crop_fraction: float | None = CROP_FRACTION,
    colorbar: bool = True,
):
    """Draw `image` on `ax` with attention `weights` over its grid laid on top.

    The image encoders look at a square centre crop of `crop_fraction` of the shorter side
    (`hashtag_kit.encoders.image.centre_crop_box`), so the grid is laid over that box of the
    whole photo (outlined, dashed) and not over the whole photo.

    Args:
        ax: a matplotlib axis.
        image: (H, W, 3) uint8 image: the whole photo, as decoded (not resized to a square).
        weights: (R,) attention weights over the R = h*w grid regions (row-major, as the
            encoders' grids); scaled to their maximum and resized bilinearly to the crop.
        grid_hw: (h, w) of the grid; default the square root of R.
        title: the axis title (e.g. a generated word, or a post's tags).
        crop_fraction: the encoder's centre crop fraction (its `info()["crop_fraction"]`);
            None when `image` is already what the encoder saw (`ImageEncoder.prepare`'s output):
            the grid then covers all of it.
        colorbar: add a small colour bar beside `ax` (figures of several maps draw one shared
            bar instead).

    Returns:
        The overlay's `AxesImage` (its extent is the crop box, in the image's pixels).
    """
    weights = np.asarray(weights, dtype="float32").ravel()
    h, w = grid_hw or (int(round(math.sqrt(weights.size))),) * 2
    if h * w != weights.size:
        raise ValueError(f"grid {h}x{w} does not match {weights.size} attention weights")
    m = weights.reshape(h, w) / max(float(weights.max()), 1e-9)
    height, width = image.shape[:2]
    if crop_fraction is None:
        left, top, right, bottom = 0, 0, width, height
    else:
        left, top, right, bottom = centre_crop_box(height, width, crop_fraction)
    size = (right - left, bottom - top)
    up = np.asarray(Image.fromarray(m.astype("float32")).resize(size, Image.BILINEAR))
    ax.imshow(image)
    extent = (left - 0.5, right - 0.5, bottom - 0.5, top - 0.5)
    overlay = ax.imshow(up, cmap=ATTENTION_CMAP, alpha=0.45, vmin=0, vmax=1, extent=extent)
    if crop_fraction is not None:  # what the encoder saw
        ax.add_patch(
            Rectangle(
                (left - 0.5, top - 0.5), *size, fill=False, ec="white", ls="--", lw=0.8, alpha=0.9
            )
        )
    ax.set_xlim(-0.5, width - 0.5)
    ax.set_ylim(height - 0.5, -0.5)
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=9)
    if colorbar:
        _attention_colorbar(ax.get_figure(), ax)
    return overlay


def plot_attention(
    image,
    words: Sequence[str],
    weights,
    grid_hw=None,
    max_words: int = 12,
    title=None,
    crop_fraction: float | None = CROP_FRACTION,
) -> Figure:
    """The image, then its attention weights for each generated word (`draw_attention`), with
    one colour bar for all the maps.

    Args:
        image: (H, W, 3) uint8 image: the whole photo (see `draw_attention`).
        words: the generated words (one per attention map).
        weights: (len(words), R) attention weights over the R = h*w grid regions.
        grid_hw: (h, w) of the grid; default the square root of R.
        max_words: at most this many words' maps.
        title: a title above the panels (e.g. the file name and caption).
        crop_fraction: the encoder's centre crop fraction, or None (see `draw_attention`).
    """
    n = min(len(words), max_words)
    cols = min(n + 1, 5)
    rows = math.ceil((n + 1) / cols)
    height, width = image.shape[:2]
    panel_h = 2.4 * height / width + 0.3
    fig = KitFigure(
        figsize=(2.4 * cols + 0.6, panel_h * rows + (0.35 if title else 0)), layout="constrained"
    )
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    axes[0].imshow(image)
    axes[0].set_title("image", fontsize=9)
    for ax, word, w in zip(axes[1:], words[:n], np.asarray(weights)[:n], strict=False):
        draw_attention(ax, image, w, grid_hw, word, crop_fraction, colorbar=False)
    for ax in axes:
        ax.set_axis_off()
    if n:
        _attention_colorbar(fig, list(axes))
    if title:  # above the panels' own titles, not over them
        fig.suptitle(title, fontsize=10)
    return fig


def plot_image_attention(
    images: Sequence,
    weights,
    titles: Sequence[str],
    grid_hw=None,
    crop_fraction: float | None = CROP_FRACTION,
    max_cols: int = 4,
) -> Figure:
    """Several images, each with its attention map (`draw_attention`), one colour bar.

    Args:
        images: per image an (H, W, 3) uint8 image (the whole photo), or a str drawn in its
            place (the message of an unreadable file's `ImageError`).
        weights: (len(images), R) attention weights over the R = h*w grid regions.
        titles: one title per image (e.g. predicted and true tags).
        grid_hw: (h, w) of the grid; default the square root of R.
        crop_fraction: the encoder's centre crop fraction, or None (see `draw_attention`).
        max_cols: panels per row.
    """
    if not len(images) == len(weights) == len(titles):
        raise ValueError(f"{len(images)} images, {len(weights)} maps, {len(titles)} titles")
    cols = min(max_cols, max(len(images), 1))
    rows = max(1, math.ceil(len(images) / cols))
    fig = KitFigure(figsize=(3.4 * cols + 0.6, 3.4 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax in axes:
        ax.set_axis_off()
    for ax, image, w, title in zip(axes, images, weights, titles, strict=False):
        if isinstance(image, str):
            _show_image(ax, image)
            ax.set_title(title, fontsize=9)
        else:
            draw_attention(ax, image, w, grid_hw, title, crop_fraction, colorbar=False)
    if any(not isinstance(image, str) for image in images):
        _attention_colorbar(fig, list(axes))
    return fig


def figure_to_png(fig: Figure, dpi: int = 100) -> bytes:
    """PNG bytes of a figure (for embedding in HTML or writing to disk)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()
