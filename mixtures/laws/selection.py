"""Law fitting on a run table: :func:`fit_law` (a :class:`~mixtures.laws.MixtureLawRegressor` fit on a
validated table, with its CV report as a :class:`LawFit`) and :func:`extrapolation_check`."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from mixtures.errors import TableError
from mixtures.laws.estimator import MixtureLawRegressor
from mixtures.laws.metrics import score
from mixtures.laws.mixture_law import MixtureLaw
from mixtures.runs_table import capped_rows, loss_columns, validate_runs


@dataclass
class LawFit:
    """The result of :func:`fit_law`.

    ``law`` the fitted :class:`MixtureLaw`; ``cv`` one row per (target, family) with the CV
    metrics, fit seconds and whether it was chosen; ``chosen`` target -> family.
    """

    law: MixtureLaw
    cv: pd.DataFrame
    chosen: dict[str, str]
    oof: dict[str, pd.DataFrame]

    def best_metrics(self) -> pd.DataFrame:
        """The CV metrics of the chosen model of each target."""
        return self.cv[self.cv["chosen"]].set_index("target")

    @property
    def best_spearman(self) -> float:
        """The worst (lowest) CV Spearman among the chosen models: one number for a quality gate."""
        return float(self.best_metrics()["spearman"].min())

    def cv_table_md(self) -> str:
        """The CV table as markdown (for Dagster metadata and reports)."""
        cols = ["target", "family", "spearman", "pearson", "mae", "mre", "n", "fit_seconds", "chosen"]
        lines = ["| " + " | ".join(cols) + " |", "|" + " --- |" * len(cols)]
        for _, row in self.cv[cols].iterrows():
            cells = [f"{v:.4g}" if isinstance(v, float) else str(v) for v in row]
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)


def _check(runs: pd.DataFrame, targets: list[str]) -> pd.DataFrame:
    runs = validate_runs(runs, require_losses=False)
    if not targets:
        raise TableError("fit_law: give at least one target loss column (e.g. --target loss_web).")
    missing = [t for t in targets if t not in loss_columns(runs)]
    if missing:
        raise TableError(f"run table has no target column(s) {missing}; its loss columns are "
                         f"{loss_columns(runs)}.")
    return runs


def fit_law(runs: pd.DataFrame, targets: list[str], law: str = "auto", folds: int = 5,
            bootstrap: int = 0, seed: int = 0, context: dict | None = None) -> LawFit:
    """Fit one law per target with K-fold CV (grouped by mixture) of every candidate family.

    Parameters
    ----------
    runs : the wide run table (``w_<domain>``, optional ``n_params``/``n_tokens``, targets).
    targets : ``loss_<x>`` columns to predict.
    law : ``auto`` (best family or ensemble per target by CV MAE) or one family name.
    folds : number of CV folds (fewer if there are fewer mixtures).
    bootstrap : number of bootstrap refits (resampling mixtures) for prediction intervals.
    seed : seeds folds, starts, LightGBM and the bootstrap.
    context : project values for the families' ``context_params`` (see :class:`MixtureLawRegressor`).
    """
    runs = _check(runs, list(targets))
    estimator = MixtureLawRegressor(law=law, folds=folds, bootstrap=bootstrap, random_state=seed, context=context)
    estimator.fit(runs, runs[list(targets)])
    return LawFit(estimator.law_, estimator.cv_, estimator.chosen_, estimator.oof_)


def extrapolation_check(runs: pd.DataFrame, targets: list[str], law: str = "auto",
                        by: str = "n_params", seed: int = 0, folds: int = 5,
                        fit_fraction: float = 1.0, context: dict | None = None) -> pd.DataFrame:
    """Fit on the smaller value(s) of ``by`` (at most ``fit_fraction`` x the largest), predict the rows
    at its largest value (``by="n_tokens"`` with ``fit_fraction=0.5``: half of each curve predicts its end).

    Returns one row per target: ``target, family, fit_max, test_value, n, mre, mae, spearman,
    pearson``. Non-scale families predict the largest scale from the smaller-scale fit as is
    (they cannot extrapolate; the number shows by how much that misses). Runs that capped a domain's unique
    tokens (``proxy.repeat_runs``) are fitted on, not predicted.
    """
    runs = _check(runs, list(targets))
    if by not in runs.columns or runs[by].nunique() < 2:
        raise TableError(f"extrapolation_check: the table needs at least two distinct values of {by!r}.")
    top = float(runs[by].max())
    train = runs[(runs[by] < top) & (runs[by] <= fit_fraction * top)]
    if train[by].nunique() < (2 if by == "n_tokens" else 1):
        raise TableError(f"extrapolation_check: too few values of {by!r} at or below {fit_fraction:g} x {top:g} to fit on.")
    test = runs[(runs[by] == top) & ~capped_rows(runs)]  # a law predicts a run without its cap of a domain's data
    fit = fit_law(train, targets, law=law, folds=folds, seed=seed, context=context)
    pred = fit.law.predict(test)
    out = []
    for t in targets:
        ok = test[t].notna()
        s = score(test.loc[ok, t], pred.loc[ok, t])
        out.append({"target": t, "family": fit.chosen[t], "fit_max": float(train[by].max()),
                     "test_value": top, **s})
    return pd.DataFrame(out)

