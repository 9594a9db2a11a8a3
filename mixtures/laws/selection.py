"""Cross-validated fitting and model selection: :func:`fit_law`, :func:`extrapolation_check`.

CV folds group rows by mixture (weights), so eval points and seeds of one run never straddle
folds; the fold of each mixture is a seeded permutation of the sorted mixture keys. Every family
is scored on the same held-out rows (the single-scale rows of :mod:`mixtures.laws.data`), by
pooled out-of-fold Spearman, Pearson, MAE and MRE. ``law="auto"`` keeps, per target, the family
or the ensemble (mean of the ``ENSEMBLE_SIZE`` best families) with the lowest CV MAE (ties:
higher Spearman).
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mixtures.errors import TableError
from mixtures.laws import families as fam
from mixtures.laws.data import apply_scale_rule, features, has_scale, mixture_keys, single_scale_rule
from mixtures.laws.metrics import score
from mixtures.laws.mixture_law import MixtureLaw, TargetModel
from mixtures.laws.robust import ConvergenceWarning
from mixtures.runs_table import domains_of, loss_columns, validate_runs

SELECTION_METRIC = "mae"
ENSEMBLE_SIZE = 3
MIN_MIXTURES = 4


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


def fold_ids(keys: pd.Series, folds: int, seed: int) -> tuple[np.ndarray, int]:
    """Fold index per row, from the mixture key, and the number of folds actually used."""
    unique = np.array(sorted(set(keys)))
    k = int(min(folds, len(unique)))
    order = np.random.default_rng(seed).permutation(len(unique))
    fold_of = {unique[j]: pos % k for pos, j in enumerate(order)}
    return np.array([fold_of[v] for v in keys]), k


def _fit_members(members: list[str], frame_all, frame_plain, target, domains, seed):
    out = []
    for family in members:
        rows = frame_all if fam.uses_scale(family) else frame_plain
        X = features(rows, domains, fam.uses_scale(family))
        est = fam.make(family, seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est.fit(X, rows[target].to_numpy(dtype=np.float64))
        out.append((family, est))
    return out


def _check(runs: pd.DataFrame, targets: list[str]) -> pd.DataFrame:
    runs = validate_runs(runs, require_losses=False)
    if not targets:
        raise TableError("fit_law: give at least one target loss column (e.g. --target loss_web).")
    missing = [t for t in targets if t not in loss_columns(runs)]
    if missing:
        raise TableError(f"run table has no target column(s) {missing}; its loss columns are "
                         f"{loss_columns(runs)}.")
    return runs


def candidate_families(runs: pd.DataFrame, law: str) -> list[str]:
    """The families ``law`` stands for on this table (``auto``: every family that applies)."""
    if law == "auto":
        names = [f for f in fam.FAMILIES if not fam.uses_scale(f) or has_scale(runs)]
    elif law in fam.FAMILIES:
        if fam.uses_scale(law) and not has_scale(runs):
            raise TableError(f"law {law!r} is a scaling law: the table needs 'n_params' and "
                             "'n_tokens' columns with more than one model size or token count.")
        names = [law]
    else:
        raise TableError(f"unknown law {law!r}; choose one of {list(fam.LAW_CHOICES)}.")
    return names


def fit_law(runs: pd.DataFrame, targets: list[str], law: str = "auto", folds: int = 5,
            bootstrap: int = 0, seed: int = 0) -> LawFit:
    """Fit one law per target with K-fold CV (grouped by mixture) of every candidate family.

    Parameters
    ----------
    runs : the wide run table (``w_<domain>``, optional ``n_params``/``n_tokens``, targets).
    targets : ``loss_<x>`` columns to predict.
    law : ``auto`` (best family or ensemble per target by CV MAE) or one family name.
    folds : number of CV folds (fewer if there are fewer mixtures).
    bootstrap : number of bootstrap refits (resampling mixtures) for prediction intervals.
    seed : seeds folds, starts, LightGBM and the bootstrap.
    """
    runs = _check(runs, list(targets))
    domains = domains_of(runs)
    names = candidate_families(runs, law)
    rule = single_scale_rule(runs)
    rows_cv, models, chosen, oof_all = [], {}, {}, {}
    for target in targets:
        frame_all = runs[runs[target].notna()]
        frame_plain = apply_scale_rule(frame_all, rule)
        groups = mixture_keys(frame_plain)
        if groups.nunique() < MIN_MIXTURES:
            raise TableError(f"{target}: only {groups.nunique()} distinct mixtures have a value at the "
                             f"fitting scale; a law needs at least {MIN_MIXTURES}.")
        fold_plain, k = fold_ids(groups, folds, seed)
        fold_of = dict(zip(groups, fold_plain))
        keys_all = mixture_keys(frame_all)
        fold_all = np.array([fold_of.get(v, -1) for v in keys_all])
        y = frame_plain[target].to_numpy(dtype=np.float64)
        oof = pd.DataFrame(index=frame_plain.index)
        seconds = {}
        for family in names:
            pred = np.full(len(y), np.nan)
            start = time.perf_counter()
            for f in range(k):
                members = _fit_members([family], frame_all[fold_all != f], frame_plain[fold_plain != f],
                                       target, domains, seed)
                test = frame_plain[fold_plain == f]
                X = features(test, domains, fam.uses_scale(family))
                pred[fold_plain == f] = members[0][1].predict(X)
            seconds[family] = time.perf_counter() - start
            oof[family] = pred
        scores = {f: score(y, oof[f]) for f in names}
        ranked = sorted(names, key=lambda f: (_key(scores[f])))
        ensemble = ranked[:ENSEMBLE_SIZE]
        if law == "auto" and len(ensemble) >= 2:
            oof["ensemble"] = oof[ensemble].mean(axis=1)
            scores["ensemble"] = score(y, oof["ensemble"])
            seconds["ensemble"] = sum(seconds[f] for f in ensemble)
        best = min(scores, key=lambda f: _key(scores[f]))
        members = ensemble if best == "ensemble" else [best]
        fitted = _fit_members(members, frame_all, frame_plain, target, domains, seed)
        boot = []
        if bootstrap > 0:
            rng = np.random.default_rng([seed, 1])
            mixtures_ = np.array(sorted(set(groups)))
            for b in range(bootstrap):
                draw = rng.choice(mixtures_, size=len(mixtures_), replace=True)
                counts = pd.Series(draw).value_counts()
                take_all = np.repeat(np.arange(len(frame_all)), keys_all.map(counts).fillna(0).astype(int))
                take_plain = np.repeat(np.arange(len(frame_plain)), groups.map(counts).fillna(0).astype(int))
                boot.append(_fit_members(members, frame_all.iloc[take_all], frame_plain.iloc[take_plain],
                                         target, domains, seed + 1 + b))
        models[target] = TargetModel(best, fitted, boot)
        chosen[target] = best
        oof.insert(0, "actual", y)
        oof_all[target] = oof
        for f, s in scores.items():
            rows_cv.append({"target": target, "family": f, **s, "folds": k,
                            "fit_seconds": seconds[f], "chosen": f == best,
                            "members": "+".join(ensemble) if f == "ensemble" else f})
    selection = {"law": law, "metric": SELECTION_METRIC, "folds": folds, "seed": seed,
                 "bootstrap": bootstrap}
    mixture_law = MixtureLaw(domains, list(targets), models, rule, selection)
    return LawFit(mixture_law, pd.DataFrame(rows_cv), chosen, oof_all)


select_law = fit_law  # the name DESIGN.md's asset sketch uses


def _key(s: dict) -> tuple[float, float]:
    mae = s["mae"] if np.isfinite(s["mae"]) else np.inf
    rho = s["spearman"] if np.isfinite(s["spearman"]) else -np.inf
    return (round(mae, 12), -rho)


def extrapolation_check(runs: pd.DataFrame, targets: list[str], law: str = "auto",
                        by: str = "n_params", seed: int = 0, folds: int = 5,
                        fit_fraction: float = 1.0) -> pd.DataFrame:
    """Fit on the smaller value(s) of ``by`` (at most ``fit_fraction`` x the largest), predict the rows
    at its largest value (``by="n_tokens"`` with ``fit_fraction=0.5``: half of each curve predicts its end).

    Returns one row per target: ``target, family, fit_max, test_value, n, mre, mae, spearman,
    pearson``. Non-scale families predict the largest scale from the smaller-scale fit as is
    (they cannot extrapolate; the number shows by how much that misses).
    """
    runs = _check(runs, list(targets))
    if by not in runs.columns or runs[by].nunique() < 2:
        raise TableError(f"extrapolation_check: the table needs at least two distinct values of {by!r}.")
    top = float(runs[by].max())
    train = runs[(runs[by] < top) & (runs[by] <= fit_fraction * top)]
    if train[by].nunique() < (2 if by == "n_tokens" else 1):
        raise TableError(f"extrapolation_check: too few values of {by!r} at or below {fit_fraction:g} x {top:g} to fit on.")
    test = runs[runs[by] == top]
    fit = fit_law(train, targets, law=law, folds=folds, seed=seed)
    pred = fit.law.predict(test)
    out = []
    for t in targets:
        ok = test[t].notna()
        s = score(test.loc[ok, t], pred.loc[ok, t])
        out.append({"target": t, "family": fit.chosen[t], "fit_max": float(train[by].max()),
                     "test_value": top, **s})
    return pd.DataFrame(out)

