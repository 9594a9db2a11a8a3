"""Validation verdict: mean / std per mixture over seeds, improvement over baselines, significance."""

from __future__ import annotations

import math

import pandas as pd

REFERENCE = "optimal"
ALPHA = 0.05


def verdict_table(runs: pd.DataFrame, value: str = "objective", reference: str = REFERENCE,
                  by: str = "mixture_name", alpha: float = ALPHA) -> pd.DataFrame:
    """One row per mixture: seeds, mean, std of ``value`` (lower is better) and, against
    ``reference``, the improvement (baseline mean - reference mean; > 0 means the reference is
    better), the relative improvement in percent, Welch's two-sided t-test p-value and whether the
    improvement is significant at ``alpha``.

    The reference's own row (and every row when the reference is absent) has no comparison.
    """
    from scipy import stats

    data = runs[[by, value]].dropna()
    groups = {name: g[value].astype(float).to_numpy() for name, g in data.groupby(by, sort=True)}
    ref = groups.get(reference)
    rows = []
    for name, values in groups.items():
        row = {"mixture": name, "seeds": len(values), "mean": float(values.mean()),
               "std": float(values.std(ddof=1)) if len(values) > 1 else float("nan")}
        if ref is not None and name != reference:
            diff = row["mean"] - float(ref.mean())
            row["improvement"] = diff
            row["improvement_%"] = 100.0 * diff / row["mean"] if row["mean"] else float("nan")
            if len(values) > 1 and len(ref) > 1 and (values.std() > 0 or ref.std() > 0):
                p = float(stats.ttest_ind(ref, values, equal_var=False).pvalue)
            else:
                p = float("nan")
            row["p_value"] = p
            row["significant"] = "yes" if (not math.isnan(p) and p < alpha and diff > 0) else "no"
        rows.append(row)
    frame = pd.DataFrame(rows, columns=["mixture", "seeds", "mean", "std", "improvement", "improvement_%",
                                        "p_value", "significant"])
    order = sorted(range(len(frame)), key=lambda i: (frame.loc[i, "mixture"] != reference, frame.loc[i, "mixture"]))
    frame = frame.iloc[order].reset_index(drop=True)
    frame["significant"] = frame["significant"].astype(object).where(frame["significant"].notna(), "")
    return frame
