"""fit_law: grouped deterministic CV, auto selection, bootstrap, JSON round trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mixtures.errors import MixturesError, TableError
from mixtures.laws import MixtureLaw, extrapolation_check, fit_law, load_law
from mixtures.laws.data import apply_scale_rule, mixture_keys, single_scale_rule
from mixtures.laws.estimator import _grouped_folds

FIXTURES = Path(__file__).parent / "fixtures" / "laws"


@pytest.fixture(scope="module")
def train() -> pd.DataFrame:
    return pd.read_csv(FIXTURES / "train.csv")


@pytest.fixture(scope="module")
def auto_fit(train):
    return fit_law(train, ["loss_d0"], law="auto", folds=3, bootstrap=2, seed=0)


def test_scale_rule_keeps_final_point_at_most_common_size(train):
    rule = single_scale_rule(train)
    rows = apply_scale_rule(train, rule)
    sizes = train.groupby("run_id")["n_params"].first().value_counts()
    assert rule.n_params == float(max(sizes[sizes == sizes.max()].index))  # ties: the largest
    assert rule.point == "final"
    assert set(rows["n_params"]) == {rule.n_params}
    assert rows["run_id"].is_unique
    assert (rows["n_tokens"] == train["n_tokens"].max()).all()


def test_folds_group_mixtures_and_are_deterministic(train):
    keys = mixture_keys(train)
    folds, k = _grouped_folds(keys, 4, seed=3)
    assert k == 4 and set(folds) == {0, 1, 2, 3}
    assert (pd.Series(folds).groupby(keys.to_numpy()).nunique() == 1).all()  # a mixture stays in one fold
    assert np.array_equal(folds, _grouped_folds(keys, 4, seed=3)[0])
    assert not np.array_equal(folds, _grouped_folds(keys, 4, seed=4)[0])
    assert _grouped_folds(keys.head(9), 5, seed=0)[1] == 3  # at most one fold per mixture (3 here)


def test_auto_compares_every_family_and_picks_the_scale_aware_law(auto_fit):
    cv = auto_fit.cv
    assert set(cv["family"]) >= {"linear", "gbm", "exp", "additive", "joint"}
    chosen = cv[cv["chosen"]]
    assert len(chosen) == 1
    assert chosen["mae"].iloc[0] == cv["mae"].min()  # three sizes: auto also ranks 100M (test_laws_transfer.py);
    # the scale-aware law wins on both counts here
    assert auto_fit.law.families["loss_d0"] == chosen["family"].iloc[0]
    assert auto_fit.best_spearman == chosen["spearman"].iloc[0]
    assert auto_fit.cv_table_md().count("\n") == len(cv) + 1
    # data drawn from an additive scaling law: a scale-aware law must beat plain regression
    mae = cv.set_index("family")["mae"]
    assert min(mae["additive"], mae["joint"]) < mae["linear"]


def test_cv_is_deterministic(train):
    a = fit_law(train, ["loss_d1"], law="exp", folds=3, seed=1)
    b = fit_law(train, ["loss_d1"], law="exp", folds=3, seed=1)
    pd.testing.assert_frame_equal(a.cv.drop(columns="fit_seconds"), b.cv.drop(columns="fit_seconds"))


def test_save_load_round_trips_predictions_exactly(tmp_path, train, auto_fit):
    law = fit_law(train, ["loss_d0", "loss_d1"], law="gbm", folds=3).law
    for fitted in (law, auto_fit.law):
        path = tmp_path / "law.json"
        fitted.save(path)
        again = load_law(path)
        assert again.families == fitted.families and again.domains == fitted.domains
        assert again.scale_rule == fitted.scale_rule
        pd.testing.assert_frame_equal(again.predict(train), fitted.predict(train), check_exact=True)
    members = auto_fit.law.predict_members(train)
    again_members = MixtureLaw.load(tmp_path / "law.json").predict_members(train)
    assert np.array_equal(members, again_members)


def test_bootstrap_members_give_intervals(train, auto_fit):
    members = auto_fit.law.predict_members(train.head(5))
    assert members.shape == (2, 5, 1)
    lo, hi = auto_fit.law.predict_interval(train.head(5), level=0.9)
    assert (lo.to_numpy() <= hi.to_numpy()).all() and (hi.to_numpy() - lo.to_numpy()).max() > 0
    plain = fit_law(train, ["loss_d0"], law="linear", folds=3).law
    assert plain.predict_members(train) is None
    with pytest.raises(MixturesError, match="bootstrap"):
        plain.predict_interval(train)


def test_extrapolation_check_reports_mre_on_the_largest_scale(train):
    report = extrapolation_check(train, ["loss_d0"], law="additive", by="n_params", folds=3)
    row = report.iloc[0]
    assert row["test_value"] == train["n_params"].max() and row["fit_max"] < row["test_value"]
    assert row["n"] == (train["n_params"] == train["n_params"].max()).sum()
    assert 0 <= row["mre"] < 0.02


def test_extrapolation_along_d_fits_the_first_part_of_each_curve_and_predicts_its_end(train):
    report = extrapolation_check(train, ["loss_d0"], law="additive", by="n_tokens", folds=3, fit_fraction=0.5)
    row = report.iloc[0]
    assert row["fit_max"] == 2e9 and row["test_value"] == 4e9  # 1e9 and 2e9 fitted, 4e9 predicted
    assert row["n"] == (train["n_tokens"] == 4e9).sum() and 0 <= row["mre"] < 0.02
    with pytest.raises(TableError, match="too few values of 'n_tokens'"):
        extrapolation_check(train, ["loss_d0"], law="additive", by="n_tokens", fit_fraction=0.3)


def test_bad_requests_are_refused(train):
    with pytest.raises(TableError, match="loss_nope"):
        fit_law(train, ["loss_nope"])
    single = apply_scale_rule(train, single_scale_rule(train)).drop(columns=["n_params", "n_tokens"])
    with pytest.raises(TableError, match="scaling law"):
        fit_law(single, ["loss_d0"], law="joint")
    with pytest.raises(TableError, match="at least"):
        fit_law(single.head(3), ["loss_d0"], law="linear")
