"""The shared plots: real matplotlib figures rendered to PNG (Agg), deterministic, with clear refusals."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from mixtures import plots

RUNS = pd.DataFrame({
    "mixture_name": ["a", "a", "b", "b", "c"],
    "w_x": [0.1, 0.1, 0.6, 0.6, 0.9], "w_y": [0.9, 0.9, 0.4, 0.4, 0.1],
    "loss_x": [2.0, 2.1, 1.5, 1.4, 1.2], "loss_y": [1.0, 1.1, 1.4, 1.5, 2.2],
    "objective": [1.5, 1.6, 1.45, 1.45, 1.7],
})


def _png_size(figure) -> tuple[int, int]:
    data = plots.png_bytes(figure)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return Image.open(io.BytesIO(data)).size


@pytest.mark.parametrize("make", [
    lambda: plots.predicted_vs_actual(RUNS[["loss_x", "loss_y"]], RUNS[["loss_x", "loss_y"]] * 1.02),
    lambda: plots.loss_vs_weight(RUNS),
    lambda: plots.loss_vs_weight(RUNS, loss="objective"),
    lambda: plots.pareto_front(RUNS, "loss_x", "loss_y", label="mixture_name"),
    lambda: plots.mixture_bars({"natural": {"x": 0.2, "y": 0.8}, "optimal": {"x": 0.7, "y": 0.3}}),
    lambda: plots.weight_trajectory(pd.DataFrame({"step": [3, 1, 2], "w_x": [0.6, 0.5, 0.55], "w_y": [0.4, 0.5, 0.45]})),
    lambda: plots.validation_comparison(RUNS, "objective", order=["c", "a"]),
])
def test_every_plot_renders_the_same_png_twice(make):
    first, second = plots.png_bytes(make()), plots.png_bytes(make())
    assert first == second  # same inputs, same bytes
    width, height = _png_size(make())
    assert width > 200 and height > 150


def test_predicted_vs_actual_has_one_panel_per_target_with_the_identity_line():
    fig = plots.predicted_vs_actual(RUNS[["loss_x", "loss_y"]], RUNS[["loss_y", "loss_x"]])
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in visible] == ["loss_x", "loss_y"]
    line = visible[0].lines[0]
    assert np.allclose(line.get_xdata(), line.get_ydata())  # y = x


def test_pareto_mask_keeps_only_non_dominated_points():
    points = np.array([[1, 5], [2, 2], [5, 1], [3, 3], [2, 2.5], [6, 6]])
    assert plots.pareto_mask(points).tolist() == [True, True, True, False, False, False]


def test_validation_comparison_orders_bars_and_shows_the_spread():
    fig = plots.validation_comparison(RUNS, "objective", order=["c", "a"])
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["c", "a", "b"]
    heights = [p.get_height() for p in ax.patches]
    assert heights == pytest.approx([1.7, 1.55, 1.45])


def test_plots_refuse_inputs_they_cannot_draw():
    with pytest.raises(ValueError, match="no w_<domain> columns"):
        plots.loss_vs_weight(RUNS[["objective"]])
    with pytest.raises(ValueError, match="'score'"):
        plots.validation_comparison(RUNS, "score")
    with pytest.raises(ValueError, match="no target column"):
        plots.predicted_vs_actual(RUNS[["loss_x"]], RUNS[["loss_y"]])
    with pytest.raises(ValueError, match="no mixtures"):
        plots.mixture_bars({})
