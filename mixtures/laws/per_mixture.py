"""One plain scaling law per mixture, for step / size extrapolation of runs already made."""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from mixtures.laws.parametric import PowerLaw
from mixtures.laws.robust import ConvergenceWarning

DECIMALS = 6


def _keys(H: np.ndarray) -> list[tuple[float, ...]]:
    return [tuple(row) for row in np.round(H, DECIMALS)]


class PerMixturePowerLaw(RegressorMixin, BaseEstimator):
    """``L = E + A / N^alpha + B / D^beta`` fitted separately for every mixture.

    ``X`` is ``h_1..h_k, N, D``. A mixture with fewer than ``min_rows`` rows is not fitted;
    predictions for mixtures not seen in ``fit`` are NaN (this law extrapolates in N and D only).
    """

    def __init__(self, min_rows=4, n_starts=6, random_state=0):
        self.min_rows = min_rows
        self.n_starts = n_starts
        self.random_state = random_state

    def fit(self, X, y):
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        keys = _keys(X[:, :-2])
        self.laws_ = {}
        for key in dict.fromkeys(keys):
            rows = np.array([k == key for k in keys])
            if rows.sum() < self.min_rows:
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                self.laws_[key] = PowerLaw(n_starts=self.n_starts, random_state=self.random_state).fit(
                    X[rows][:, -2:], y[rows])
        self.n_features_in_ = X.shape[1]
        return self

    def predict(self, X):
        check_is_fitted(self, "laws_")
        X = np.asarray(X, dtype=np.float64)
        out = np.full(len(X), np.nan)
        for i, key in enumerate(_keys(X[:, :-2])):
            law = self.laws_.get(key)
            if law is not None:
                out[i] = law.predict(X[i:i + 1, -2:])[0]
        return out
