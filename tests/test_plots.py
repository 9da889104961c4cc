"""Tests for hashtag_kit.reporting.plots: the figures draw what they are given, under the Agg backend."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure

from hashtag_kit.evaluation.ranking import ranking_metrics
from hashtag_kit.reporting.plots import (
    RANKING_PANELS,
    draw_attention,
    figure_to_png,
    plot_attention,
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


def test_metrics_vs_k_groups_share_a_line_style(ranking):
    models = {"a": ranking, "b": ranking, "c": ranking}
    fig = plot_metrics_vs_k(models, groups={"a": "02", "b": "03", "c": "02"})
    styles = {ln.get_label(): ln.get_linestyle() for ln in fig.axes[0].get_lines()}
    assert styles == {"a": "-", "b": "--", "c": "-"}
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == ["a", "b", "c"]
    assert "02" in legend.get_title().get_text() and "03" in legend.get_title().get_text()


def test_attention_overlays_are_drawn_by_one_function():
    image = np.zeros((28, 28, 3), "uint8")
    weights = np.zeros((2, 49), "float32")
    weights[0, 0] = weights[1, 48] = 1.0  # word 1 looks top left, word 2 bottom right
    fig = plot_attention(image, ["a", "dog"], weights, title="toy")
    panels = [ax for ax in fig.axes if ax.images]
    assert [ax.get_title() for ax in panels] == ["image", "a", "dog"]
    overlay = panels[1].images[1].get_array()  # the map, resized to the image
    assert overlay.shape == (28, 28) and overlay[0, 0] > overlay[-1, -1]
    assert panels[2].images[1].get_array()[-1, -1] > panels[2].images[1].get_array()[0, 0]
    assert fig._suptitle.get_text() == "toy"
    ax = Figure().subplots()
    with pytest.raises(ValueError, match="grid 3x3 does not match 49"):
        draw_attention(ax, image, weights[0], grid_hw=(3, 3))
