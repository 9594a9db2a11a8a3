"""Fidelity metrics of a law's predictions, and the decision metrics: regret@1 and the seed spread."""

from __future__ import annotations

import numpy as np
import pandas as pd


def score(actual, predicted) -> dict[str, float]:
    """Spearman and Pearson correlation, mean absolute error, mean relative error (fraction)
    and the number of rows, ignoring rows where either side is missing."""
    a = np.asarray(actual, dtype=np.float64)
    p = np.asarray(predicted, dtype=np.float64)
    ok = np.isfinite(a) & np.isfinite(p)
    a, p = a[ok], p[ok]
    n = int(len(a))
    out = {"spearman": float("nan"), "pearson": float("nan"), "mae": float("nan"),
           "mre": float("nan"), "n": n}
    if n == 0:
        return out
    out["mae"] = float(np.mean(np.abs(p - a)))
    out["mre"] = float(np.mean(np.abs(p - a) / np.abs(a)))
    if n >= 3 and np.ptp(a) > 0 and np.ptp(p) > 0:
        from scipy.stats import pearsonr, spearmanr  # here: SciPy's statistics take a second to import

        out["spearman"] = float(spearmanr(a, p).statistic)
        out["pearson"] = float(pearsonr(a, p).statistic)
    return out


def cv_rank_key(s: dict) -> tuple[float, float]:
    """How ``auto`` orders candidates by their CV scores (:func:`score`): lower MAE first, then higher Spearman
    (a missing value ranks last)."""
    mae = s["mae"] if np.isfinite(s["mae"]) else np.inf
    rho = s["spearman"] if np.isfinite(s["spearman"]) else -np.inf
    return (round(mae, 12), -rho)


def regret_at_1(actual, predicted) -> float:
    """How much worse the row ranked first (lowest ``predicted``) is than the best ``actual``: ``actual`` at
    the argmin of ``predicted`` minus the minimum of ``actual`` (>= 0; NaN when no row has both sides).
    On out-of-fold predictions this is the out-of-fold regret@1 of a law (lower is better)."""
    a = np.asarray(actual, dtype=np.float64)
    p = np.asarray(predicted, dtype=np.float64)
    ok = np.isfinite(a) & np.isfinite(p)
    if not ok.any():
        return float("nan")
    a, p = a[ok], p[ok]
    return float(a[int(np.argmin(p))] - a.min())


def pooled_spread(values, groups) -> tuple[float, int, int]:
    """The pooled sample standard deviation of ``values`` within ``groups`` of two or more (the seed spread
    when a group is one mixture measured with several seeds): ``sqrt(sum((n_g - 1) s_g^2) / sum(n_g - 1))``.

    Returns ``(spread, groups with repeats, values in them)``; the spread is NaN without any repeat."""
    frame = pd.DataFrame({"v": np.asarray(values, dtype=np.float64), "g": np.asarray(groups)}).dropna()
    sizes = frame.groupby("g")["v"].transform("size")
    frame = frame[sizes >= 2]
    if frame.empty:
        return float("nan"), 0, 0
    stats = frame.groupby("g")["v"].agg(["var", "size"])
    dof = float((stats["size"] - 1).sum())
    return float(np.sqrt(((stats["size"] - 1) * stats["var"]).sum() / dof)), int(len(stats)), int(len(frame))
