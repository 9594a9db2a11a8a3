"""The law as a scikit-learn estimator: :class:`MixtureLawRegressor` fits one law per target from a run table.

Cross-validation groups rows by mixture (:class:`~sklearn.model_selection.GroupKFold` over the rounded
weights, shuffled with the seed), so eval points and seeds of one run never straddle folds. Every
candidate family is scored on the same held-out rows (the single-scale rows of :mod:`mixtures.laws.data`),
by pooled out-of-fold Spearman, Pearson, MAE and MRE. ``law="auto"`` keeps, per target, the family or
the ensemble (mean of the ``ENSEMBLE_SIZE`` best families) with the lowest CV MAE (ties: higher
Spearman); when the runs span several model sizes or budgets, with the lowest sum of its ranks by CV MAE and by
Spearman and regret@1 at the held-out largest scale (:mod:`mixtures.laws.transfer`). The chosen model is then
refit on every row; ``bootstrap`` refits it on mixtures drawn with replacement (:func:`sklearn.utils.resample`)
for prediction intervals and the optimizer's uncertainty.
"""

from __future__ import annotations

import numbers
import time
import warnings

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.model_selection import GroupKFold
from sklearn.utils import check_array, check_consistent_length, resample
from sklearn.utils.validation import check_is_fitted, validate_data

from mixtures.errors import TableError
from mixtures.laws import families as fam
from mixtures.laws.data import apply_scale_rule, features, has_scale, mixture_keys, single_scale_rule
from mixtures.laws.metrics import cv_rank_key, score
from mixtures.laws.mixture_law import MixtureLaw, TargetModel
from mixtures.laws.robust import ConvergenceWarning
from mixtures.laws.transfer import transfer_choice, transfer_scores, transfer_split
from mixtures.runs_table import SCALE_COLUMNS, WEIGHT_PREFIX, capped_rows, domains_of, weight_columns

SELECTION_METRIC = "mae"
TRANSFER_METRIC = "mae+transfer_spearman+transfer_regret_at_1"  # the rank sum of mixtures.laws.transfer
ENSEMBLE_SIZE = 3
MIN_MIXTURES = 4


class LawInputError(TableError, ValueError):
    """Input a law cannot be fitted on (a :class:`TableError` for the CLI, a ``ValueError`` for scikit-learn)."""


class MixtureLawRegressor(RegressorMixin, BaseEstimator):
    """A mixing / scaling law fitted from a run table: one law per target, the family chosen by grouped CV.

    Parameters
    ----------
    law : str, default "auto"
        ``"auto"`` (the best family or ensemble per target by CV MAE) or a family of
        :data:`mixtures.laws.families.LAWS`.
    folds : int, default 5
        CV folds, grouped by mixture (fewer when there are fewer mixtures).
    bootstrap : int, default 0
        Refits of the chosen model on mixtures drawn with replacement.
    random_state : int, default 0
        Seeds the folds, the families' starts and LightGBM, and the bootstrap.
    context : dict or None, default None
        Project values for the families' ``context_params`` (``features``: the revealed-features file of
        ``ot``; ``unique_tokens``: per-domain unique tokens of ``repetition``); the target's name is added.

    ``fit(X, y)`` takes the wide run table: ``X`` a DataFrame with a ``w_<domain>`` column per training
    domain, ``n_params`` and ``n_tokens`` for scaling laws, and ``run_id`` (other columns are ignored;
    ``run_id`` tells runs apart for the single-scale rule), or a 2-D array whose columns are domain
    weights (domains ``x0, x1, ...``, no scale); ``y`` the target losses, row for row with ``X``: a Series
    or DataFrame named by its ``loss_<name>`` column(s), or an array. A missing (NaN) loss means "not
    measured": that row is left out of that target's fit. ``predict(X)`` returns an array, one column per
    target (1-D when ``y`` was). :func:`mixtures.laws.fit_law` is ``fit`` on a validated table.

    Attributes
    ----------
    law_ : :class:`~mixtures.laws.MixtureLaw`, the fitted law (``law_.save(path)`` writes ``law.json``)
    cv_ : DataFrame, one row per (target, candidate) with the CV metrics, fit seconds and ``chosen``
    chosen_ : dict, target -> family (or ``"ensemble"``)
    oof_ : dict, target -> DataFrame of ``actual`` and each candidate's out-of-fold predictions
    transfer_ : dict, target -> the held-out scale ``auto`` also chose by (empty: one scale, in-scale CV alone)
    targets_, domains_ : lists of names
    """

    def __init__(self, law="auto", folds=5, bootstrap=0, random_state=0, context=None):
        self.law = law
        self.folds = folds
        self.bootstrap = bootstrap
        self.random_state = random_state
        self.context = context

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.positive_only = True  # mixture weights (and model sizes, token counts)
        tags.target_tags.positive_only = True  # losses
        tags.target_tags.multi_output = True
        return tags

    # -- fit -------------------------------------------------------------------------------------------
    def fit(self, X, y):
        seed = self._check_params()
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y is None.")
        table = self._features_frame(X, reset=True)
        if len(table) < MIN_MIXTURES:
            raise LawInputError(f"X has {len(table)} sample(s) (n_samples = {len(table)}); a law needs rows of at "
                                f"least {MIN_MIXTURES} distinct mixtures.")
        targets, values = self._targets(y, len(table))
        table = table.copy()
        for j, target in enumerate(targets):
            table[target] = values[:, j]
        domains = domains_of(table)
        names = candidate_families(table, self.law, self.context)
        rule = single_scale_rule(table)
        rows_cv, models, oof_all = [], {}, {}
        self.transfer_ = {}
        for target in targets:
            model, rows, oof = self._fit_target(table, target, names, domains, rule, seed)
            models[target], oof_all[target] = model, oof
            rows_cv.extend(rows)
        selection = {"law": self.law, "metric": SELECTION_METRIC, "folds": self.folds, "seed": seed,
                     "bootstrap": self.bootstrap}
        if self.transfer_:  # auto chose by rank agreement beyond the fitted scale too (mixtures.laws.transfer)
            selection.update(metric=TRANSFER_METRIC, transfer=self.transfer_)
        self.law_ = MixtureLaw(domains, targets, models, rule, selection)
        self.cv_ = pd.DataFrame(rows_cv)
        self.chosen_ = {t: models[t].family for t in targets}
        self.oof_ = oof_all
        self.targets_ = targets
        self.domains_ = domains
        return self

    def _check_params(self) -> int:
        if not isinstance(self.random_state, numbers.Integral):
            raise ValueError(f"random_state must be an int seed (got {self.random_state!r}): every fit is seeded.")
        if not (isinstance(self.folds, numbers.Integral) and self.folds >= 2):
            raise ValueError(f"folds must be an int >= 2 (got {self.folds!r}).")
        if not (isinstance(self.bootstrap, numbers.Integral) and self.bootstrap >= 0):
            raise ValueError(f"bootstrap must be an int >= 0 (got {self.bootstrap!r}).")
        return int(self.random_state)

    def _fit_target(self, table, target, names, domains, rule, seed):
        """CV of every candidate on one target, the choice, the refit on all rows and the bootstrap."""
        frame_all = table[table[target].notna()]
        frame_plain = apply_scale_rule(frame_all, rule)
        groups = mixture_keys(frame_plain)
        if groups.nunique() < MIN_MIXTURES:
            raise LawInputError(f"{target}: only {groups.nunique()} distinct mixtures have a value at the "
                                f"fitting scale; a law needs at least {MIN_MIXTURES}.")
        fold_plain, k = _grouped_folds(groups, self.folds, seed)
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
                                       target, domains, seed, self.context)
                test = frame_plain[fold_plain == f]
                pred[fold_plain == f] = members[0][1].predict(features(test, domains, fam.uses_scale(family)),
                                                              **fam.row_inputs(family, test, domains))
            seconds[family] = time.perf_counter() - start
            oof[family] = pred
        scores = {f: score(y, oof[f]) for f in names}
        ensemble = sorted(names, key=lambda f: cv_rank_key(scores[f]))[:ENSEMBLE_SIZE]
        if self.law == fam.AUTO and len(ensemble) >= 2:
            oof["ensemble"] = oof[ensemble].mean(axis=1)
            scores["ensemble"] = score(y, oof["ensemble"])
            seconds["ensemble"] = sum(seconds[f] for f in ensemble)
        split = transfer_split(frame_all, MIN_MIXTURES) if self.law == fam.AUTO and len(scores) > 1 else None
        if split is None:
            transfer = {}
            best = min(scores, key=lambda f: cv_rank_key(scores[f]))
        else:
            transfer = self._transfer(split, names, ensemble if "ensemble" in scores else [], target, domains, seed)
            best = transfer_choice(scores, transfer)
        members = ensemble if best == "ensemble" else [best]
        fitted = _fit_members(members, frame_all, frame_plain, target, domains, seed, self.context)
        boot = self._bootstrap(members, frame_all, frame_plain, keys_all, groups, target, domains, seed)
        oof.insert(0, "actual", y)
        rows = [{"target": target, "family": f, **s, "folds": k, "fit_seconds": seconds[f], "chosen": f == best,
                 "members": "+".join(ensemble) if f == "ensemble" else f, **transfer.get(f, {})}
                for f, s in scores.items()]
        if split is not None:
            self.transfer_[target] = split.describe()
        return TargetModel(best, fitted, boot), rows, oof

    def _transfer(self, split, names, ensemble, target, domains, seed) -> dict[str, dict]:
        """Each candidate (and the ensemble of ``ensemble``) fitted on ``split.fit``, scored on ``split.test``."""
        fit_plain = apply_scale_rule(split.fit, single_scale_rule(split.fit))
        actual = split.test[target].to_numpy(dtype=np.float64)
        predicted = {}
        for family in names:
            (_, est), = _fit_members([family], split.fit, fit_plain, target, domains, seed, self.context)
            predicted[family] = est.predict(features(split.test, domains, fam.uses_scale(family)),
                                            **fam.row_inputs(family, split.test, domains))
        if ensemble:
            predicted["ensemble"] = np.mean([predicted[f] for f in ensemble], axis=0)
        return {f: transfer_scores(actual, p) for f, p in predicted.items()}

    def _bootstrap(self, members, frame_all, frame_plain, keys_all, groups, target, domains, seed):
        """``bootstrap`` refits, each on mixtures drawn with replacement (every row of a drawn mixture, as
        many times as it was drawn)."""
        random_state = np.random.RandomState([seed, 1])
        mixtures_ = np.array(sorted(set(groups)))
        boot = []
        for b in range(self.bootstrap):
            counts = pd.Series(resample(mixtures_, replace=True, random_state=random_state)).value_counts()
            take_all = np.repeat(np.arange(len(frame_all)), keys_all.map(counts).fillna(0).astype(int))
            take_plain = np.repeat(np.arange(len(frame_plain)), groups.map(counts).fillna(0).astype(int))
            boot.append(_fit_members(members, frame_all.iloc[take_all], frame_plain.iloc[take_plain],
                                     target, domains, seed + 1 + b, self.context))
        return boot

    # -- predict ---------------------------------------------------------------------------------------
    def predict(self, X):
        check_is_fitted(self, "law_")
        predicted = self.law_.predict(self._features_frame(X, reset=False), source="X").to_numpy()
        return predicted[:, 0] if self.y_ndim_ == 1 else predicted

    # -- inputs ----------------------------------------------------------------------------------------
    def _features_frame(self, X, reset: bool) -> pd.DataFrame:
        """``X`` as a run table with ``w_<domain>`` (and scale) columns; sets the fitted feature names."""
        if isinstance(X, pd.DataFrame):
            weights = weight_columns(X)
            if not weights:
                raise LawInputError("X has no w_<domain> columns; give the wide run table "
                                    f"(columns {list(X.columns)[:8]}...) or an array of domain weights.")
            columns = weights + [c for c in SCALE_COLUMNS if c in X.columns]
            if reset:
                self.feature_names_in_ = np.asarray(columns, dtype=object)
                self.n_features_in_ = len(columns)
            frame = X
        else:
            array = validate_data(self, X, dtype=np.float64, reset=reset)
            if reset or not hasattr(self, "feature_names_in_"):
                columns = [f"{WEIGHT_PREFIX}x{j}" for j in range(array.shape[1])]
            else:
                columns = list(self.feature_names_in_)
            frame = pd.DataFrame(array, columns=columns)
        _check_positive(frame, columns)
        return frame

    def _targets(self, y, n_rows: int) -> tuple[list[str], np.ndarray]:
        """Target names and a ``(rows, targets)`` float array (NaN allowed: not measured)."""
        if isinstance(y, pd.DataFrame):
            names = [str(c) for c in y.columns]
        elif isinstance(y, pd.Series):
            names = [str(y.name) if y.name is not None else "y"]
        else:
            names = None
        values = check_array(y, ensure_2d=False, dtype=np.float64, ensure_all_finite="allow-nan",
                             input_name="y")
        check_consistent_length(np.empty(n_rows), values)
        self.y_ndim_ = values.ndim
        values = values.reshape(len(values), -1)
        if names is None:
            names = ["y"] if self.y_ndim_ == 1 else [f"y{j}" for j in range(values.shape[1])]
        if len(set(names)) != len(names):
            raise LawInputError(f"y names a target twice: {names}")
        return names, values


def _check_positive(frame: pd.DataFrame, columns: list[str]) -> None:
    """Refuse negative weights and non-positive model sizes / token counts (NaN is left to the fit)."""
    values = frame[columns].to_numpy(dtype=np.float64)
    if np.any(values < 0):
        row, col = np.argwhere(values < 0)[0]
        raise LawInputError(f"Negative values in data: X row {row + 1}, {columns[col]} = {values[row, col]:g}; "
                            "mixture weights, model sizes and token counts are >= 0.")
    scale = [j for j, c in enumerate(columns) if c in SCALE_COLUMNS]
    if scale and np.any(values[:, scale] == 0):
        raise LawInputError("X: n_params and n_tokens must be > 0.")


def candidate_families(runs: pd.DataFrame, law: str, context: dict | None = None) -> list[str]:
    """The families ``law`` stands for on this table (``auto``: every family that applies, given ``context``)."""
    if law == fam.AUTO:
        return [f for f in fam.LAWS if (not fam.uses_scale(f) or has_scale(runs)) and fam.applies(f, context)]
    fam.checked_law(law)
    if fam.uses_scale(law) and not has_scale(runs):
        raise LawInputError(f"law {law!r} is a scaling law: the table needs 'n_params' and "
                            "'n_tokens' columns with more than one model size or token count.")
    return [law]


def _grouped_folds(groups: pd.Series, folds: int, seed: int) -> tuple[np.ndarray, int]:
    """Fold index per row (:class:`GroupKFold` over the mixture keys, shuffled by ``seed``) and the
    number of folds used (at most one per mixture)."""
    k = int(min(folds, groups.nunique()))
    fold = np.empty(len(groups), dtype=int)
    splitter = GroupKFold(n_splits=k, shuffle=True, random_state=seed)
    for f, (_, test) in enumerate(splitter.split(np.zeros((len(groups), 1)), groups=groups.to_numpy())):
        fold[test] = f
    return fold, k


def _fit_members(members: list[str], frame_all, frame_plain, target, domains, seed, context=None):
    out = []
    for family in members:
        rows = frame_all if fam.uses_scale(family) else frame_plain
        if not getattr(fam.LAWS.get(family), "row_params", None):
            rows = rows[~capped_rows(rows)]  # a run that capped a domain's data would mislead a family blind to it
        est = fam.make(family, seed, {**(context or {}), "target": target})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est.fit(features(rows, domains, fam.uses_scale(family)), rows[target].to_numpy(dtype=np.float64),
                    **fam.row_inputs(family, rows, domains))
        out.append((family, est))
    return out

