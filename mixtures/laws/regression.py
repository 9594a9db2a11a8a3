"""RegMix's regression baselines as JSON-serialisable scikit-learn regressors (``X``: the domain weights)."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from mixtures.laws.robust import check_sample_weight


class LinearLaw(RegressorMixin, BaseEstimator):
    """Ridge regression from domain weights to loss (RegMix's linear model).

    The ridge strength is chosen by efficient leave-one-out CV over ``alphas`` (deterministic).
    """

    uses_scale: ClassVar[bool] = False

    def __init__(self, alphas=(1e-6, 1e-4, 1e-3, 1e-2, 1e-1, 1.0)):
        self.alphas = alphas

    def fit(self, X, y, sample_weight=None):
        from sklearn.linear_model import RidgeCV

        X, y = validate_data(self, X, y, dtype=np.float64, y_numeric=True)
        weight = check_sample_weight(sample_weight, len(y))
        model = RidgeCV(alphas=list(self.alphas)).fit(X, y, sample_weight=weight)
        self.coef_ = np.asarray(model.coef_, dtype=np.float64)
        self.intercept_ = float(model.intercept_)
        self.alpha_ = float(model.alpha_)
        return self

    def predict(self, X):
        check_is_fitted(self, "coef_")
        return validate_data(self, X, dtype=np.float64, reset=False) @ self.coef_ + self.intercept_

    def fitted_state(self) -> dict:
        return {"coef_": [float(v) for v in self.coef_], "intercept_": self.intercept_,
                "alpha_": self.alpha_, "n_features_in_": int(self.n_features_in_)}

    def set_fitted_state(self, state: dict) -> None:
        self.coef_ = np.asarray(state["coef_"], dtype=np.float64)
        self.intercept_ = float(state["intercept_"])
        self.alpha_ = float(state["alpha_"])
        self.n_features_in_ = int(state["n_features_in_"])


class GBMLaw(RegressorMixin, BaseEstimator):
    """LightGBM regression (RegMix's model) with small-data defaults.

    Deterministic (``deterministic=True``, one thread by default, fixed seed); leaves of at
    least ``min_child_samples`` rows (lowered for tiny tables) and shallow trees.
    """

    uses_scale: ClassVar[bool] = False

    def __init__(self, n_estimators=300, learning_rate=0.05, num_leaves=7, min_child_samples=5,
                 subsample=0.8, colsample_bytree=0.8, reg_lambda=1.0, n_jobs=1, random_state=0):
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.reg_lambda = reg_lambda
        self.n_jobs = n_jobs
        self.random_state = random_state

    def fit(self, X, y, sample_weight=None):
        import lightgbm as lgb

        X, y = validate_data(self, X, y, dtype=np.float64, y_numeric=True)
        if len(y) < 2:
            raise ValueError(f"GBMLaw needs at least 2 rows; got {len(y)} sample(s) (n_samples = {len(y)}).")
        weight = check_sample_weight(sample_weight, len(y))
        params = {
            "objective": "regression", "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_data_in_leaf": int(min(self.min_child_samples, max(2, len(y) // 8))),
            "min_data_in_bin": 1, "bagging_fraction": self.subsample, "bagging_freq": 1,
            "feature_fraction": self.colsample_bytree, "lambda_l2": self.reg_lambda,
            "num_threads": self.n_jobs, "seed": self.random_state, "deterministic": True,
            "force_col_wise": True, "verbose": -1,
        }
        data = lgb.Dataset(X, y, weight=weight, params={"min_data_in_bin": 1, "verbose": -1})
        self.booster_ = lgb.train(params, data, num_boost_round=self.n_estimators)
        return self

    def predict(self, X):
        check_is_fitted(self, "booster_")
        return self.booster_.predict(validate_data(self, X, dtype=np.float64, reset=False), num_threads=1)

    def fitted_state(self) -> dict:
        return {"booster_": self.booster_.model_to_string(), "n_features_in_": int(self.n_features_in_)}

    def set_fitted_state(self, state: dict) -> None:
        import lightgbm as lgb

        self.booster_ = lgb.Booster(model_str=state["booster_"])
        self.n_features_in_ = int(state["n_features_in_"])
