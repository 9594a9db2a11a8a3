"""Selection that transfers: hold out the largest scale a run table has, and score each candidate law there.

In-scale cross-validation asks which family predicts held-out *mixtures* at the fitted scale. A law is used to
rank mixtures at a larger one. When the table has runs at several scales, :func:`transfer_split` holds out the
largest: the runs of the largest model size when the runs have two or more (leave-largest-scale-out), else the
runs of the largest training budget when the runs were trained to two or more budgets (leave-largest-D-out).
Every candidate is fitted on the other runs and predicts the held-out runs at the largest (n_params, n_tokens)
they reach; :func:`transfer_scores` gives its rank agreement there (Spearman, regret@1).

The eval points along one run's curve are not a second budget: a table whose runs all share one model size and
one budget (the demo's) has no larger scale to hold out, and ``auto`` keeps in-scale CV alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from mixtures.laws.data import mixture_keys, run_keys
from mixtures.laws.metrics import regret_at_1, score

MIN_TEST_MIXTURES = 3  # a rank correlation needs three


@dataclass(frozen=True)
class TransferSplit:
    """Rows to fit on (``fit``) and rows to predict (``test``: the held-out runs at their largest scale)."""

    by: str  # "n_params" (leave-largest-scale-out) or "n_tokens" (leave-largest-D-out)
    fit_max: float
    test_value: float
    fit: pd.DataFrame
    test: pd.DataFrame

    def describe(self) -> dict:
        return {"by": self.by, "fit_max": self.fit_max, "test_value": self.test_value,
                "test_mixtures": int(mixture_keys(self.test).nunique())}


def transfer_split(table: pd.DataFrame, min_fit_mixtures: int) -> TransferSplit | None:
    """The split above, or None when the table has one scale, or too few mixtures on either side."""
    if not {"n_params", "n_tokens"} <= set(table.columns) or table.empty:
        return None
    keys = run_keys(table)
    runs = table.groupby(keys.to_numpy()).agg(n_params=("n_params", "first"), budget=("n_tokens", "max"))
    by, column = ("n_params", "n_params") if runs["n_params"].nunique() > 1 else ("n_tokens", "budget")
    if runs[column].nunique() < 2:
        return None
    top = float(runs[column].max())
    held = set(runs.index[runs[column] == top])
    in_held = keys.isin(held).to_numpy()
    fit, test = table[~in_held], table[in_held]
    test = test[test["n_tokens"] == test["n_tokens"].max()]
    if mixture_keys(fit).nunique() < min_fit_mixtures or mixture_keys(test).nunique() < MIN_TEST_MIXTURES:
        return None
    fit_max = float(runs.loc[runs[column] < top, column].max())
    return TransferSplit(by=by, fit_max=fit_max, test_value=top, fit=fit, test=test)


def transfer_scores(actual, predicted) -> dict[str, float]:
    """Rank agreement of one candidate at the held-out scale: ``transfer_spearman``, ``transfer_regret_at_1``,
    and ``transfer_mae`` beside them (a law without a scale term cannot match the level, only the order)."""
    s = score(actual, predicted)
    return {"transfer_spearman": s["spearman"], "transfer_regret_at_1": regret_at_1(actual, predicted),
            "transfer_mae": s["mae"]}


def transfer_choice(in_scale: dict[str, dict], transfer: dict[str, dict]) -> str:
    """The candidate with the lowest sum of its three ranks: in-scale CV MAE, Spearman and regret@1 at the
    held-out scale (ties: the lower in-scale MAE). A missing score ranks last."""
    names = list(in_scale)

    def ranks(values: dict[str, float]) -> dict[str, float]:
        series = pd.Series(values, dtype=np.float64).replace([np.inf, -np.inf], np.nan)
        return series.rank(method="min", na_option="bottom").to_dict()

    mae = ranks({f: round(in_scale[f]["mae"], 12) for f in names})
    rho = ranks({f: -round(transfer[f]["transfer_spearman"], 12) for f in names})
    regret = ranks({f: round(transfer[f]["transfer_regret_at_1"], 12) for f in names})
    in_scale_mae = {f: in_scale[f]["mae"] if np.isfinite(in_scale[f]["mae"]) else np.inf for f in names}
    return min(names, key=lambda f: (mae[f] + rho[f] + regret[f], in_scale_mae[f]))
