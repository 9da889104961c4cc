"""Tests for hashtag_kit.reporting.plots: the figures draw what they are given,
under the Agg backend."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.text import Text

from hashtag_kit.encoders.image import centre_crop_box, centre_crop_resize
from hashtag_kit.evaluation.ranking import ranking_metrics
from hashtag_kit.reporting.plots import (
    RANKING_PANELS,
    draw_attention,
    figure_to_png,
    plot_attention,
    plot_caption_samples,
    plot_dataset_overview,
    plot_image_attention,
    plot_metrics_vs_k,
    plot_params_vs_f1,
    plot_training_curves,
)


@pytest.fixture
def ranking():
    ranked = [["a", "b", "c", "d"], ["c", "d", "e", "f"], ["x", "y", "a", "b"]]
    truth = [{"a"}, {"d", "q"}, {"b"}]
    return ranking_metrics(ranked, truth, ks=[1, 2, 3, 4])


def test_metrics_vs_k_draws_every_model_in_four_panels(ranking):
    fig = plot_metrics_vs_k({"m1": ranking, "m2": ranking, "missing": None}, title="T")
    assert [ax.get_title() for ax in fig.axes] == list(RANKING_PANELS.values())
    for ax, metric in zip(fig.axes, RANKING_PANELS, strict=True):
        lines = ax.get_lines()
        assert [ln.get_label() for ln in lines] == ["m1", "m2"]
        xs, ys = lines[0].get_data()
        assert list(xs) == [1, 2, 3, 4]
        np.testing.assert_allclose(ys, [ranking[metric][str(k)] for k in range(1, 5)])
    assert figure_to_png(fig)[:8] == b"\x89PNG\r\n\x1a\n"


def test_params_vs_f1_places_points_and_lists_the_rest(ranking):
    models = {
        "big": {"trainable_params": 10_000, "ranking": ranking},
        "popularity": {"trainable_params": None, "ranking": ranking},
    }
    fig = plot_params_vs_f1(models, k=3)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    (points,) = ax.collections
    np.testing.assert_allclose(points.get_offsets(), [[10_000, ranking["f1"]["3"]]])
    assert "popularity" in fig.get_supxlabel()


def test_training_curves_one_panel_per_history():
    fig = plot_training_curves(
        {"a": {"loss": [3.0, 2.0, 1.0], "val_loss": [3.0, 2.5, 2.2]}, "b": None, "c": {}}
    )
    visible = [ax for ax in fig.axes if ax.axison]
    assert [ax.get_title() for ax in visible] == ["a"]
    styles = {ln.get_label(): ln.get_linestyle() for ln in visible[0].get_lines()}
    assert styles == {"loss": "-", "val_loss": "--"}
    empty = plot_training_curves({"b": None})
    assert "no training history" in empty.axes[0].texts[0].get_text()


def test_metrics_vs_k_groups_share_a_line_style_keyed_by_line_samples(ranking):
    models = {"a": ranking, "b": ranking, "c": ranking}
    fig = plot_metrics_vs_k(models, groups={"a": "02", "b": "03", "c": "02"})
    styles = {ln.get_label(): ln.get_linestyle() for ln in fig.axes[0].get_lines()}
    assert styles == {"a": "-", "b": "--", "c": "-"}
    models_key, style_key = fig.legends
    assert [t.get_text() for t in models_key.get_texts()] == ["a", "b", "c"]
    # the line-style key is drawn: a line sample per group, not typed text
    assert [t.get_text() for t in style_key.get_texts()] == ["02", "03"]
    handles = style_key.legend_handles
    assert all(isinstance(h, Line2D) for h in handles)
    assert [h.get_linestyle() for h in handles] == ["-", "--"]


def test_metrics_vs_k_labels_k_on_the_bottom_row_and_keeps_27_models_apart(ranking):
    models = {f"model {i}": ranking for i in range(27)}
    fig = plot_metrics_vs_k(models)
    assert [ax.get_xlabel() for ax in fig.axes] == ["", "", "K", "K"]
    lines = fig.axes[0].get_lines()
    looks = {(to_hex(ln.get_color()), ln.get_marker()) for ln in lines}
    assert len(looks) == 27  # no two models drawn alike
    assert len({to_hex(ln.get_color()) for ln in lines}) == 20  # a 20-colour palette
    for ax in fig.axes:
        ticks = [t for t in ax.get_xticks() if 1 <= t <= 4]
        assert ticks and all(float(t).is_integer() for t in ticks)


def _boxes(texts):
    """The text's own extents (an annotation's extent would include its leader line)."""
    return [Text.get_window_extent(t) for t in texts]


def test_params_vs_f1_numbers_do_not_overlap_and_stay_in_the_axes(ranking):
    # a cluster like notebook 02's variants: same parameter count, F1 within 0.01
    rng = np.random.default_rng(0)
    models = {}
    for i in range(14):
        r = {**ranking, "f1": {"7": 0.60 + 0.01 * rng.random()}}
        params = 300_000 * (1 + 0.05 * (i % 3))
        models[f"encoder-decoder variant {i} with a long descriptive name"] = {
            "trainable_params": params,
            "ranking": r,
        }
    models["small"] = {"trainable_params": 20_000, "ranking": {"f1": {"7": 0.1}}}
    fig = plot_params_vs_f1(models, k=7, title="T")
    ax = fig.axes[0]
    fig.draw_without_rendering()
    labels = ax.texts
    assert sorted(t.get_text() for t in labels) == sorted(str(n) for n in range(1, 16))
    boxes = _boxes(labels)
    for i, a in enumerate(boxes):
        assert ax.get_window_extent().contains(a.x0, a.y0)
        assert ax.get_window_extent().contains(a.x1, a.y1)
        for b in boxes[i + 1 :]:
            assert not a.overlaps(b), "two point labels overlap"
    title = ax.title.get_window_extent()
    assert not any(title.overlaps(b) for b in boxes)
    # the key beside the axes names every point, best F1 first, with its marker
    (key,) = fig.legends
    names = [t.get_text() for t in key.get_texts()]
    assert names[-1] == "15. small" and len(names) == 15
    assert all(isinstance(h, Line2D) and h.get_marker() for h in key.legend_handles)
    fig_box = fig.bbox
    for t in [*key.get_texts(), ax.title]:
        b = t.get_window_extent()
        assert fig_box.x0 <= b.x0 and b.x1 <= fig_box.x1 and b.y1 <= fig_box.y1
    assert figure_to_png(fig)[:8] == b"\x89PNG\r\n\x1a\n"


def test_training_curves_integer_epochs_and_one_colour_per_model():
    hist = {"a": {"loss": [3.0, 2.0, 1.0], "val_loss": [3.0, 2.5, 2.2]}, "b": {"loss": [2.0, 1.5]}}
    fig = plot_training_curves(hist, one_panel=True, ylabel="cross-entropy per word")
    (ax,) = [ax for ax in fig.axes if ax.axison]
    lines = {ln.get_label(): ln for ln in ax.get_lines()}
    assert list(lines) == ["a train", "a val", "b train"]
    assert list(lines["a train"].get_xdata()) == [1, 2, 3]  # epochs count from 1
    assert (
        lines["a train"].get_color() == lines["a val"].get_color() != lines["b train"].get_color()
    )
    assert [ln.get_linestyle() for ln in lines.values()] == ["-", "--", "-"]
    assert ax.get_ylabel() == "cross-entropy per word"
    fig.draw_without_rendering()
    shown = [t for t in ax.get_xticks() if 1 <= t <= 3]
    assert shown and all(float(t).is_integer() for t in shown)  # no half epochs
    panels = plot_training_curves(hist)  # one panel per model: a series and its val_ share a colour
    a_lines = panels.axes[0].get_lines()
    assert a_lines[0].get_color() == a_lines[1].get_color()


def test_training_curves_draw_a_score_against_its_own_axis():
    hist = {
        "sat": {
            "loss": [4.3, 3.5, 3.2],
            "val_loss": [3.1, 2.9, 2.8],
            "val_bleu4": [0.15, 0.18, 0.17],
        }
    }
    fig = plot_training_curves(hist)
    loss_ax, score_ax = fig.axes  # the score's axis shares the epochs
    assert [ln.get_label() for ln in loss_ax.get_lines()] == ["loss", "val_loss"]
    (score,) = score_ax.get_lines()
    assert score.get_label() == "val_bleu4" and score.get_linestyle() == ":"
    assert list(score.get_ydata()) == [0.15, 0.18, 0.17]
    assert loss_ax.get_ylim()[0] > 2.0 and score_ax.get_ylim()[1] < 1.0  # not squashed together
    legend = [t.get_text() for t in loss_ax.get_legend().get_texts()]
    assert legend == ["loss", "val_loss", "val_bleu4"]  # one key names all three
    one = plot_training_curves({**hist, "merge": {"loss": [3.0, 2.5]}}, one_panel=True)
    colour = {ln.get_label(): ln.get_color() for ax in one.axes for ln in ax.get_lines()}
    assert colour["sat train"] == colour["sat val_bleu4"] != colour["merge train"]  # by model


def test_dataset_overview_bins_centred_on_integers_with_labelled_axes():
    fig = plot_dataset_overview(
        [50, 20, 5, 1], [1, 2, 2, 3, 3, 3], [4, 5, 5, 6, 9, 12], {"image+text": 5, "text only": 1}
    )
    assert [ax.get_ylabel() for ax in fig.axes] == ["posts"] * 4
    for ax, values in ((fig.axes[1], [1, 2, 2, 3, 3, 3]), (fig.axes[2], [4, 5, 5, 6, 9, 12])):
        centres = [p.get_x() + p.get_width() / 2 for p in ax.patches]
        heights = [p.get_height() for p in ax.patches]
        np.testing.assert_allclose(centres, np.arange(min(values), max(values) + 1))
        assert heights == [values.count(v) for v in range(min(values), max(values) + 1)]


def test_caption_samples_grid_wraps_and_keeps_every_text_inside_the_figure():
    image = np.zeros((40, 60, 3), "uint8")
    long = " ".join(["a dog runs through the long green grass of a park"] * 3)
    captions = [{"attention": long, "merge": "a dog", "reference": "a dog on grass ."}] * 5
    images = [image] * 4 + ["pics/broken.jpg: corrupt image (cannot identify image file)"]
    fig = plot_caption_samples(images, captions)
    fig.draw_without_rendering()
    pictures = [ax for ax in fig.axes if ax.images]
    assert len(pictures) == 4
    rows = sorted({round(ax.get_position().y0, 3) for ax in pictures})
    assert len(rows) == 2  # five samples: three per row
    texts = [t for ax in fig.axes for t in ax.texts]
    blocks = [t.get_text() for t in texts if t.get_text().startswith("attention: ")]
    assert len(blocks) == 5
    assert all(b.count("\n") >= 3 for b in blocks)  # the long caption is wrapped
    assert all("\nmerge: a dog\nreference: a dog on grass ." in b for b in blocks)
    assert any("corrupt image" in t.get_text() for t in texts)  # the unreadable file's message
    for t in texts:
        b = t.get_window_extent()
        assert fig.bbox.x0 <= b.x0 and b.x1 <= fig.bbox.x1, t.get_text()
        assert fig.bbox.y0 <= b.y0 and b.y1 <= fig.bbox.y1, t.get_text()
    with pytest.raises(ValueError, match="2 images but 1 captions"):
        plot_caption_samples([image, image], captions[:1])


def test_draw_attention_lays_the_grid_on_the_encoders_centre_crop():
    image = np.random.default_rng(0).integers(0, 255, (100, 200, 3), dtype="uint8")
    left, top, right, bottom = centre_crop_box(100, 200)
    # the box is what the encoder reads: its centre crop at the crop's own size is those pixels
    crop = centre_crop_resize(image, size=right - left)
    np.testing.assert_array_equal(crop, image[top:bottom, left:right])
    weights = np.zeros(49, "float32")
    weights[0] = 1.0  # the top left region
    fig = Figure()
    ax = fig.subplots()
    overlay = draw_attention(ax, image, weights)
    assert (left, top, right, bottom) == (56, 6, 144, 94)  # 0.875 of the 100 px side
    np.testing.assert_allclose(overlay.get_extent(), [55.5, 143.5, 93.5, 5.5])
    assert overlay.get_array().shape == (88, 88)
    assert overlay.get_array()[0, 0] > overlay.get_array()[-1, -1]
    assert ax.get_xlim() == (-0.5, 199.5) and ax.get_ylim() == (99.5, -0.5)  # the whole photo
    assert len(fig.axes) == 2  # and a colour bar
    whole = draw_attention(Figure().subplots(), image, weights, crop_fraction=None)
    np.testing.assert_allclose(whole.get_extent(), [-0.5, 199.5, 99.5, -0.5])


def test_image_attention_one_panel_per_image_and_one_colour_bar():
    image = np.zeros((30, 40, 3), "uint8")
    weights = np.ones((2, 49), "float32")
    fig = plot_image_attention([image, "x.jpg: missing"], weights, ["t1", "t2"])
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == ["t1", "t2"]
    assert len(panels[0].images) == 2 and not panels[1].images
    assert "missing" in panels[1].texts[0].get_text()
    assert len(fig.axes) == len(panels) + 1  # one shared colour bar
    assert fig._repr_png_()[:8] == b"\x89PNG\r\n\x1a\n"  # display(fig) shows a PNG


def test_attention_overlays_are_drawn_by_one_function():
    image = np.zeros((28, 28, 3), "uint8")
    weights = np.zeros((2, 49), "float32")
    weights[0, 0] = weights[1, 48] = 1.0  # word 1 looks top left, word 2 bottom right
    fig = plot_attention(image, ["a", "dog"], weights, title="toy")
    panels = [ax for ax in fig.axes if ax.images]
    assert [ax.get_title() for ax in panels] == ["image", "a", "dog"]
    overlay = panels[1].images[1].get_array()  # the map, resized to the centre crop
    assert overlay.shape == (24, 24) and overlay[0, 0] > overlay[-1, -1]
    assert panels[2].images[1].get_array()[-1, -1] > panels[2].images[1].get_array()[0, 0]
    assert fig._suptitle.get_text() == "toy"
    ax = Figure().subplots()
    with pytest.raises(ValueError, match="grid 3x3 does not match 49"):
        draw_attention(ax, image, weights[0], grid_hw=(3, 3))
