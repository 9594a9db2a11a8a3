"""The laws as scikit-learn estimators: scikit-learn's own estimator checks, MixtureLawRegressor on run
tables and in scikit-learn's model selection, the family registry, and old law files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.model_selection import GroupKFold, cross_val_predict
from sklearn.utils.estimator_checks import parametrize_with_checks

from mixtures.cli import main
from mixtures.config import parse_config
from mixtures.errors import ConfigError
from mixtures.laws import (LAWS, AdditiveLaw, ExpLaw, GBMLaw, JointLaw, LinearLaw, MixtureLawRegressor, fit_law,
                           law_choices, load_law)
from mixtures.laws.ot import OTLaw
from mixtures.laws.repetition import RepetitionLaw
from mixtures.laws.revealed import PointCloud, RevealedFeatures
from mixtures.laws.data import apply_scale_rule, features, mixture_keys, single_scale_rule

FIXTURES = Path(__file__).parent / "fixtures" / "laws"

# -- scikit-learn's estimator checks, and the ones that do not apply ------------------------------------

WEIGHTED_STARTS = "the starts are placed from the unweighted mean loss: repeated rows move them (optimum within ~1e-5)"
NO_SCALE_IN_DATA = "the check's X has a 0 or < 3 columns; a scaling law's X ends with model size and tokens, > 0"
FITS_GENERATED_DATA = (  # every check of a scaling law that fits on the checks' generated data
    "check_fit_score_takes_y", "check_estimators_overwrite_params", "check_dont_overwrite_parameters",
    "check_estimators_fit_returns_self", "check_readonly_memmap_input", "check_estimators_dtypes",
    "check_sample_weights_pandas_series", "check_sample_weights_not_an_array", "check_sample_weights_list",
    "check_sample_weights_shape", "check_sample_weights_not_overwritten", "check_pipeline_consistency",
    "check_estimators_nan_inf", "check_estimators_pickle", "check_f_contiguous_array_estimator",
    "check_supervised_y_2d", "check_methods_sample_order_invariance", "check_methods_subset_invariance",
    "check_fit2d_1sample", "check_dict_unchanged", "check_fit_idempotent", "check_fit_check_is_fitted",
    "check_n_features_in", "check_fit2d_predict1d",
)
SCALING_LAW_SKIPS = {
    **dict.fromkeys(FITS_GENERATED_DATA, NO_SCALE_IN_DATA),
    "check_sample_weight_equivalence_on_dense_data": WEIGHTED_STARTS,
}
EXPECTED_FAILURES = {
    "MixtureLawRegressor": {
        "check_regressor_data_not_an_array": "a DataFrame X is a run table (w_<domain> columns); this one has integer names",
        "check_regressor_multioutput": "its targets are negative (positive_only ignored); the exp family fits losses > 0",
    },
    "LinearLaw": {"check_sample_weight_equivalence_on_dense_data":
                  "RidgeCV's leave-one-out alpha leaves each copy of a repeated row out on its own"},
    "GBMLaw": {"check_sample_weight_equivalence_on_dense_data":
               "LightGBM's row bagging and minimum rows per leaf count rows, not weight"},
    "ExpLaw": {"check_sample_weight_equivalence_on_dense_data": WEIGHTED_STARTS},
    "AdditiveLaw": {**SCALING_LAW_SKIPS, "check_regressors_train": "make_regression's data is no additive law: R^2 < 0.5"},
    "JointLaw": SCALING_LAW_SKIPS,
    "RepetitionLaw": {**SCALING_LAW_SKIPS, "check_regressors_train": "make_regression's data is no additive law: R^2 < 0.5"},
    "OTLaw": {**dict.fromkeys([*FITS_GENERATED_DATA, "check_sample_weight_equivalence_on_dense_data",
                               "check_regressors_train", "check_regressors_no_decision_function",
                               "check_fit2d_1feature", "check_regressors_int", "check_fit2d_predict1d",
                               "check_regressor_data_not_an_array", "check_n_features_in_after_fitting",
                               "check_positive_only_tag_during_fit", "check_dtype_object"],
                              "it fits only with a revealed-features file matching X's domains (tests/test_laws_ot.py)")},
}


@parametrize_with_checks(
    [MixtureLawRegressor(folds=3, bootstrap=2), LinearLaw(), GBMLaw(), ExpLaw(), AdditiveLaw(), JointLaw(),
     RepetitionLaw(), OTLaw()],
    expected_failed_checks=lambda est: EXPECTED_FAILURES[type(est).__name__],
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_every_registered_family_is_checked():
    assert set(LAWS.names()) == {"linear", "gbm", "exp", "additive", "joint", "ot", "repetition"}
    assert {LAWS.get(name).__name__ for name in LAWS} | {"MixtureLawRegressor"} == set(EXPECTED_FAILURES)


# -- MixtureLawRegressor on run tables -----------------------------------------------------------------


@pytest.fixture(scope="module")
def train() -> pd.DataFrame:
    return pd.read_csv(FIXTURES / "train.csv")


@pytest.fixture(scope="module")
def test_rows() -> pd.DataFrame:
    return pd.read_csv(FIXTURES / "test.csv")


def test_fit_law_is_the_estimator_fitted_on_the_table(train, test_rows):
    targets = ["loss_d0", "loss_d1"]
    est = MixtureLawRegressor(law="additive", folds=3, bootstrap=2, random_state=0).fit(train, train[targets])
    fit = fit_law(train, targets, law="additive", folds=3, bootstrap=2, seed=0)
    pd.testing.assert_frame_equal(est.law_.predict(test_rows), fit.law.predict(test_rows), check_exact=True)
    np.testing.assert_array_equal(est.law_.predict_members(test_rows), fit.law.predict_members(test_rows))
    pd.testing.assert_frame_equal(est.cv_.drop(columns="fit_seconds"), fit.cv.drop(columns="fit_seconds"))
    assert est.predict(test_rows).shape == (len(test_rows), 2) and est.targets_ == targets
    np.testing.assert_array_equal(est.predict(test_rows), fit.law.predict(test_rows).to_numpy())
    assert list(est.feature_names_in_) == ["w_d0", "w_d1", "w_d2", "w_d3", "n_params", "n_tokens"]
    one = MixtureLawRegressor(law="additive", folds=3).fit(train, train["loss_d0"])
    assert one.predict(test_rows).shape == (len(test_rows),)  # a 1-D y predicts 1-D


def test_the_estimator_works_in_scikit_learns_model_selection(train):
    est = MixtureLawRegressor(law="additive", folds=3)
    pred = cross_val_predict(est, train, train["loss_d0"], groups=mixture_keys(train), cv=GroupKFold(3))
    assert np.all(np.isfinite(pred)) and np.mean(np.abs(pred - train["loss_d0"]) / train["loss_d0"]) < 0.02
    assert not hasattr(clone(est.fit(train, train["loss_d0"])), "law_")
    assert est.get_params() == {"law": "additive", "folds": 3, "bootstrap": 0, "random_state": 0, "context": None}


def test_array_and_table_inputs_agree_and_missing_losses_are_left_out(train):
    rows = apply_scale_rule(train, single_scale_rule(train)).reset_index(drop=True)
    weights = rows[["w_d0", "w_d1", "w_d2", "w_d3"]]
    y = rows[["loss_d0", "loss_d1"]].copy()
    y.loc[:3, "loss_d1"] = np.nan  # not measured on 4 runs
    on_table = MixtureLawRegressor(law="exp", folds=3).fit(weights, y)
    on_array = MixtureLawRegressor(law="exp", folds=3).fit(weights.to_numpy(), y.to_numpy())
    np.testing.assert_array_equal(on_table.predict(weights), on_array.predict(weights.to_numpy()))
    alone = MixtureLawRegressor(law="exp", folds=3).fit(weights.iloc[4:], y["loss_d1"].iloc[4:])
    np.testing.assert_array_equal(on_table.predict(weights)[:, 1], alone.predict(weights))
    assert on_array.targets_ == ["y0", "y1"] and on_array.law_.domains == ["x0", "x1", "x2", "x3"]


def test_bad_tables_are_refused_naming_what_is_wrong(train):
    with pytest.raises(ValueError, match="no w_<domain> columns"):
        MixtureLawRegressor().fit(train.drop(columns=[c for c in train if c.startswith("w_")]), train["loss_d0"])
    negative = train.assign(w_d0=-train["w_d0"])
    with pytest.raises(ValueError, match=r"Negative values in data: X row 1, w_d0"):
        MixtureLawRegressor().fit(negative, train["loss_d0"])
    with pytest.raises(ValueError, match="distinct mixtures"):
        MixtureLawRegressor(law="linear").fit(train.head(9), train["loss_d0"].head(9))  # 3 mixtures
    with pytest.raises(ConfigError, match=r"unknown law family 'lineer'.*did you mean 'linear'"):
        MixtureLawRegressor(law="lineer").fit(train, train["loss_d0"])


# -- the family registry: config and CLI accept exactly its names and auto ------------------------------


def test_config_accepts_exactly_the_registrys_laws():
    base = {"domains": [{"name": "a", "paths": ["a.jsonl"]}]}
    assert law_choices() == ["auto", *LAWS.names()]
    for name in law_choices():
        assert parse_config({**base, "laws": {"law": name}}).laws.law == name
    for wrong in ("Auto", "ridge", "additve"):
        with pytest.raises(ConfigError, match=rf"laws.law: unknown law family '{wrong}'"):
            parse_config({**base, "laws": {"law": wrong}})


def test_the_cli_accepts_exactly_the_registrys_laws(train, tmp_path, capsys):
    runs = tmp_path / "runs.csv"
    train.to_csv(runs, index=False)
    rng = np.random.default_rng(0)
    revealed = tmp_path / "revealed.npz"
    RevealedFeatures({f"d{j}": PointCloud(rng.normal(j, 1, (3, 2)), np.full(3, 1 / 3)) for j in range(4)},
                     {"d0": PointCloud(rng.normal(0, 1, (3, 2)), np.full(3, 1 / 3))}).save(revealed)
    context = {"ot": ["--revealed", str(revealed)], "repetition": ["--unique-tokens", "d1=1e12"]}
    for name in law_choices():
        out = tmp_path / f"{name}.json"
        assert main(["fit", "--runs", str(runs), "--target", "loss_d0", "--law", name, "--folds", "2",
                     *context.get(name, []), "--out", str(out)]) == 0, capsys.readouterr().err
        family = load_law(out).families["loss_d0"]
        assert family == name or (name == "auto" and family in [*LAWS.names(), "ensemble"])
    assert main(["fit", "--runs", str(runs), "--target", "loss_d0", "--law", "ridge", "--out",
                 str(tmp_path / "x.json")]) == 2
    assert "unknown law family 'ridge'" in capsys.readouterr().err and not (tmp_path / "x.json").exists()


# -- sample weights --------------------------------------------------------------------------------------


@pytest.mark.parametrize("family", ["linear", "gbm"])
def test_regression_families_take_sample_weights(family):
    rng = np.random.default_rng(0)
    H = rng.dirichlet(np.ones(3), size=200)
    y = np.where(np.arange(200) < 100, 2.0 + H[:, 0], 3.0 - H[:, 1])  # two regimes on the same inputs
    heavy_first = np.where(np.arange(200) < 100, 1.0, 1e-3)
    weighted = LAWS.get(family)().fit(H, y, sample_weight=heavy_first).predict(H[:100])
    plain = LAWS.get(family)().fit(H, y).predict(H[:100])
    assert np.mean(np.abs(weighted - y[:100])) < 0.5 * np.mean(np.abs(plain - y[:100]))
    with pytest.raises(ValueError, match="not all zero"):
        LAWS.get(family)().fit(H, y, sample_weight=np.zeros(200))


# -- law files written before the estimator --------------------------------------------------------------


def test_old_law_files_load_and_predict_the_same(train, test_rows):
    law = load_law(FIXTURES / "law_v1.json")
    expected = pd.read_csv(FIXTURES / "law_v1_predictions.csv")
    predicted = law.predict(test_rows)
    np.testing.assert_array_equal(predicted["loss_d0"], expected["loss_d0"])
    np.testing.assert_array_equal(predicted["loss_d1"], expected["loss_d1"])
    np.testing.assert_array_equal(law.models["loss_d0"].predict_bootstrap(*law._inputs(test_rows, "t"))[0],
                                  expected["loss_d0_member0"])
    # refitting each saved member today on the same rows, with its saved parameters, gives the same law: bit for
    # bit on one machine, and within 1% of the file's (written on another CPU: its BLAS rounds differently, and the
    # exp family's optimum is flat enough that L-BFGS-B ends 0.7% away)
    plain = apply_scale_rule(train, single_scale_rule(train))
    for target, model in law.models.items():
        for family, old in model.members:
            rows = train if LAWS.get(family).uses_scale else plain
            X = features(rows, law.domains, LAWS.get(family).uses_scale)
            new = clone(old).fit(X, rows[target].to_numpy())
            again = clone(old).fit(X, rows[target].to_numpy())
            X_test = features(test_rows, law.domains, LAWS.get(family).uses_scale)
            np.testing.assert_array_equal(new.predict(X_test), again.predict(X_test), err_msg=f"{target} {family}")
            np.testing.assert_allclose(new.predict(X_test), old.predict(X_test), rtol=0.01, err_msg=f"{target} {family}")
