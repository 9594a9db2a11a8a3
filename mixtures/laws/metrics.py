"""Fidelity metrics of a law's predictions."""

from __future__ import annotations

import numpy as np
from scipy.stats import pearsonr, spearmanr


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
        out["spearman"] = float(spearmanr(a, p).statistic)
        out["pearson"] = float(pearsonr(a, p).statistic)
    return out
