"""The project's shared plots: each function returns a matplotlib ``Figure``.

Figures are built with :class:`matplotlib.figure.Figure` directly (the Agg canvas, no pyplot),
so nothing depends on a display, no global figure registry grows, and the same inputs give the
same PNG bytes (:func:`png_bytes` strips the varying metadata). Used by the HTML report, as
MLflow artifacts and as Dagster metadata.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

DPI = 100
PALETTE = ["#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3", "#8c8c8c",
           "#ccb974", "#64b5cd"]


def _figure(ncols: int = 1, nrows: int = 1, width: float = 4.0, height: float = 3.2, bottom: float = 0.55,
            top: float = 0.45, left: float = 0.8):
    """A figure and a flat list of its axes (Agg canvas).

    Margins are fixed in inches (``bottom``/``top``/``left``) rather than computed by a layout
    engine: drawing is then a single pass, about twice as fast, and the layout never depends on
    font metrics of the machine.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig_w, fig_h = width * ncols, height * nrows
    fig = Figure(figsize=(fig_w, fig_h), dpi=DPI)
    FigureCanvasAgg(fig)  # the Agg canvas, whatever backend pyplot may use elsewhere
    fig.subplots_adjust(left=left / fig_w, right=1 - 0.15 / fig_w, bottom=bottom / fig_h, top=1 - top / fig_h,
                        wspace=0.8 / (width - 0.8), hspace=(bottom + 0.4) / (height - bottom - 0.4))
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, [ax for row in axes for ax in row]


def _grid(n: int, max_cols: int = 4) -> tuple[int, int]:
    cols = max(1, min(n, max_cols))
    return cols, max(1, -(-n // cols))


def _hide_unused(axes: list, used: int) -> None:
    for ax in axes[used:]:
        ax.set_visible(False)


def _color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def png_bytes(figure: Figure, dpi: int = DPI) -> bytes:
    """The figure as PNG bytes, without the (version-dependent) software metadata."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
    return buffer.getvalue()


def predicted_vs_actual(actual: pd.DataFrame, predicted: pd.DataFrame, targets: Sequence[str] | None = None,
                        title: str = "predicted vs actual") -> Figure:
    """One panel per target: predicted (y) against measured (x) loss, with the y = x line.

    Parameters
    ----------
    actual, predicted
        Frames with one column per target (``loss_<name>``), rows aligned.
    targets
        Columns to plot (default: the columns the two frames share, in ``actual``'s order).
    """
    targets = list(targets) if targets is not None else [c for c in actual.columns if c in predicted.columns]
    if not targets:
        raise ValueError("predicted_vs_actual: no target column is in both frames")
    cols, rows = _grid(len(targets))
    fig, axes = _figure(cols, rows, 3.4, 3.2)
    for i, target in enumerate(targets):
        ax = axes[i]
        x = actual[target].to_numpy(dtype=float)
        y = predicted[target].to_numpy(dtype=float)
        ax.scatter(x, y, s=18, color=_color(i), alpha=0.85, edgecolors="none")
        finite = np.concatenate([x[np.isfinite(x)], y[np.isfinite(y)]])
        if finite.size:
            lo, hi = float(finite.min()), float(finite.max())
            pad = (hi - lo) * 0.05 or 0.01
            ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="#444444", linewidth=1, linestyle="--",
                    label="y = x")
            ax.set_xlim(lo - pad, hi + pad)
            ax.set_ylim(lo - pad, hi + pad)
        ax.set_title(target, fontsize=9)
        ax.set_xlabel("measured")
        ax.set_ylabel("predicted")
    axes[0].legend(fontsize=7, loc="upper left")
    _hide_unused(axes, len(targets))
    fig.suptitle(title, fontsize=10)
    return fig


def loss_vs_weight(runs: pd.DataFrame, domains: Sequence[str] | None = None, loss: str | None = None,
                   title: str = "loss vs domain weight") -> Figure:
    """One scatter panel per domain: its weight ``w_<d>`` against a loss.

    Parameters
    ----------
    runs
        One row per run with ``w_<domain>`` and ``loss_<...>`` columns.
    domains
        Domains to plot (default: every ``w_`` column).
    loss
        The loss column on the y axis for every panel (e.g. ``objective``); default: each domain's
        own ``loss_<domain>``.
    """
    domains = list(domains) if domains is not None else [c[2:] for c in runs.columns if c.startswith("w_")]
    if not domains:
        raise ValueError("loss_vs_weight: no w_<domain> columns")
    cols, rows = _grid(len(domains))
    fig, axes = _figure(cols, rows, 3.2, 2.8)
    for i, domain in enumerate(domains):
        ax = axes[i]
        column = loss or f"loss_{domain}"
        if column in runs.columns and f"w_{domain}" in runs.columns:
            ax.scatter(runs[f"w_{domain}"].astype(float), runs[column].astype(float), s=16, color=_color(i),
                       alpha=0.85, edgecolors="none")
        else:
            ax.text(0.5, 0.5, f"no {column}", ha="center", va="center", transform=ax.transAxes, fontsize=8)
        ax.set_title(domain, fontsize=9)
        ax.set_xlabel(f"w_{domain}")
        ax.set_ylabel(column)
    _hide_unused(axes, len(domains))
    fig.suptitle(title, fontsize=10)
    return fig


def pareto_mask(points: np.ndarray) -> np.ndarray:
    """Which rows of ``points`` (n, k), all to be minimized, no other row dominates."""
    points = np.asarray(points, dtype=float)
    keep = np.ones(len(points), dtype=bool)
    for i, p in enumerate(points):
        dominated = np.all(points <= p, axis=1) & np.any(points < p, axis=1)
        keep[i] = not dominated.any()
    return keep


def pareto_front(points: pd.DataFrame, x: str, y: str, label: str | None = None,
                 title: str = "Pareto front") -> Figure:
    """All candidate points of two objectives (both minimized), the non-dominated ones joined.

    ``label`` names a column whose values annotate the front's points (e.g. a mixture name).
    """
    if points.empty:
        raise ValueError("pareto_front: no points")
    values = points[[x, y]].to_numpy(dtype=float)
    mask = pareto_mask(values)
    fig, axes = _figure(1, 1, 4.6, 3.6, top=0.35)
    ax = axes[0]
    ax.scatter(values[~mask, 0], values[~mask, 1], s=14, color="#bbbbbb", label="dominated", edgecolors="none")
    front = values[mask]
    order = np.lexsort((front[:, 1], front[:, 0]))
    ax.plot(front[order, 0], front[order, 1], "-o", color=_color(3), markersize=4, linewidth=1.2, label="front")
    if label is not None:
        names = points.loc[mask, label].astype(str).to_numpy()[order]
        for (px, py), name in zip(front[order], names):
            ax.annotate(name, (px, py), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.legend(fontsize=7)
    ax.set_title(title, fontsize=10)
    return fig


def mixture_bars(mixtures: Mapping[str, Mapping[str, float]], title: str = "mixtures") -> Figure:
    """Several mixtures side by side: one group of bars per domain, one bar per mixture."""
    if not mixtures:
        raise ValueError("mixture_bars: no mixtures")
    names = list(mixtures)
    domains: list[str] = []
    for mixture in mixtures.values():
        domains += [d for d in mixture if d not in domains]
    fig, axes = _figure(1, 1, max(4.0, 0.55 * len(domains) * max(1, len(names)) ** 0.5 + 2), 3.6, bottom=0.85)
    ax = axes[0]
    width = 0.8 / len(names)
    base = np.arange(len(domains))
    for i, name in enumerate(names):
        heights = [float(mixtures[name].get(d, 0.0)) for d in domains]
        ax.bar(base + (i - (len(names) - 1) / 2) * width, heights, width, label=name, color=_color(i))
    ax.set_xticks(base, domains, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("weight")
    ax.set_ylim(0, 1.0 if max(max(m.values(), default=0) for m in mixtures.values()) > 0.5 else None)
    ax.legend(fontsize=7, ncols=min(len(names), 4))
    ax.set_title(title, fontsize=10)
    return fig


def weight_trajectory(history: pd.DataFrame, step: str = "step", title: str = "domain weights over training") -> Figure:
    """Domain weights of an online method over steps: one line per ``w_<domain>`` column."""
    columns = [c for c in history.columns if c.startswith("w_")]
    if not columns or step not in history.columns:
        raise ValueError(f"weight_trajectory: need a {step!r} column and w_<domain> columns")
    frame = history.sort_values(step)
    fig, axes = _figure(1, 1, 5.0, 3.2, top=0.35)
    ax = axes[0]
    for i, column in enumerate(columns):
        ax.plot(frame[step].astype(float), frame[column].astype(float), label=column[2:], color=_color(i),
                linewidth=1.4)
    ax.set_xlabel(step)
    ax.set_ylabel("weight")
    ax.legend(fontsize=7, ncols=min(len(columns), 4))
    ax.set_title(title, fontsize=10)
    return fig


def validation_comparison(results: pd.DataFrame, value: str = "objective", by: str = "mixture_name",
                          title: str | None = None, order: Sequence[str] | None = None) -> Figure:
    """Mean +- standard deviation of ``value`` per mixture (one bar each; seeds as dots).

    ``order`` fixes the bars' order (default: sorted names); names not in it follow, sorted.
    """
    if value not in results.columns or by not in results.columns:
        raise ValueError(f"validation_comparison: need columns {by!r} and {value!r}")
    data = results[[by, value]].dropna()
    if data.empty:
        raise ValueError(f"validation_comparison: no {value!r} values")
    groups = data.groupby(by, sort=True)[value]
    present = [str(n) for n in groups.groups]
    names = [n for n in (order or []) if n in present] + [n for n in present if n not in (order or [])]
    means = groups.mean().rename(index=str).loc[names].to_numpy()
    stds = groups.std(ddof=1).rename(index=str).fillna(0.0).loc[names].to_numpy()
    fig, axes = _figure(1, 1, max(3.6, 1.1 * len(names) + 1.5), 3.6, bottom=0.85)
    ax = axes[0]
    x = np.arange(len(names))
    ax.bar(x, means, 0.6, yerr=stds, capsize=4, color=[_color(i) for i in range(len(names))], alpha=0.8)
    for i, name in enumerate(names):
        seeds = data.loc[data[by].astype(str) == name, value].to_numpy(dtype=float)
        ax.scatter(np.full(len(seeds), i), seeds, s=12, color="#222222", zorder=3)
    ax.set_xticks(x, names, rotation=20, ha="right", fontsize=8)
    ax.set_ylabel(value)
    spread = float(np.nanmax(means + stds) - np.nanmin(means - stds)) or abs(float(means.mean())) * 0.1 or 1.0
    ax.set_ylim(float(np.nanmin(means - stds)) - spread * 0.5, float(np.nanmax(means + stds)) + spread * 0.5)
    ax.set_title(title or f"{value}: mean \u00b1 std over seeds", fontsize=10)
    return fig
