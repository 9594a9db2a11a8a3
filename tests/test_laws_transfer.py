"""auto's selection that transfers: the held-out largest scale, the rank agreement there, the rank-sum choice."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from mixtures.laws import fit_law, load_law
from mixtures.laws.data import features
from mixtures.laws.families import make
from mixtures.laws.transfer import transfer_choice, transfer_split

FIXTURES = Path(__file__).parent / "fixtures" / "laws"


@pytest.fixture(scope="module")
def train() -> pd.DataFrame:
    return pd.read_csv(FIXTURES / "train.csv")  # 30 runs: 10 each at 20M, 50M, 100M parameters, 3 eval points


def test_several_model_sizes_hold_out_the_largest_at_its_final_point(train):
    split = transfer_split(train, min_fit_mixtures=4)
    assert split.by == "n_params" and split.fit_max == 5e7 and split.test_value == 1e8
    assert set(split.fit["n_params"]) == {2e7, 5e7} and len(split.fit) == 60  # every eval point of the rest
    assert set(split.test["n_params"]) == {1e8} and set(split.test["n_tokens"]) == {train["n_tokens"].max()}
    assert split.test["run_id"].nunique() == 10 and not set(split.test["run_id"]) & set(split.fit["run_id"])


def test_one_size_holds_out_the_largest_budget_and_eval_points_are_not_a_budget(train):
    one = train[train["n_params"] == 2e7]
    assert transfer_split(one, 4) is None  # one budget: its eval points are one run's curve, nothing to hold out
    budgets = one.copy()
    short = budgets["run_id"].isin(sorted(budgets["run_id"].unique())[:5])
    budgets = budgets[~short | (budgets["n_tokens"] < budgets["n_tokens"].max())]  # five runs stop earlier
    split = transfer_split(budgets, 3)
    assert split.by == "n_tokens" and split.test_value == train["n_tokens"].max()
    assert split.test["run_id"].nunique() == 5 and split.fit["run_id"].nunique() == 5
    assert transfer_split(budgets, 6) is None  # too few mixtures left to fit on


def test_the_rank_sum_prefers_what_ranks_the_larger_scale_over_in_scale_error():
    in_scale = {"gbm": {"mae": 0.010}, "exp": {"mae": 0.012}, "joint": {"mae": 0.011}}
    transfer = {"gbm": {"transfer_spearman": 0.90, "transfer_regret_at_1": 0.05},
                "exp": {"transfer_spearman": 0.98, "transfer_regret_at_1": 0.00},
                "joint": {"transfer_spearman": 0.95, "transfer_regret_at_1": 0.01}}
    # ranks (mae, spearman, regret): gbm 1+3+3 = 7, exp 3+1+1 = 5, joint 2+2+2 = 6: the lowest in-scale error loses
    assert transfer_choice(in_scale, transfer) == "exp"
    transfer["exp"]["transfer_regret_at_1"] = float("nan")  # not measurable ranks last: exp 3+1+3, joint 2+2+1
    assert transfer_choice(in_scale, transfer) == "joint"
    transfer["joint"]["transfer_spearman"] = 0.80  # joint 2+3+1 = 6, gbm 1+2+2 = 5, exp 7
    assert transfer_choice(in_scale, transfer) == "gbm"
    tie = {"a": {"mae": 0.02}, "b": {"mae": 0.01}}
    same = {"a": {"transfer_spearman": 0.9, "transfer_regret_at_1": 0.0},
            "b": {"transfer_spearman": 0.8, "transfer_regret_at_1": 0.0}}  # a 2+1+1 = b 1+2+1: b's MAE is lower
    assert transfer_choice(tie, same) == "b"


def test_auto_scores_every_candidate_at_the_held_out_scale_and_chooses_by_the_rank_sum(train, tmp_path):
    fit = fit_law(train, ["loss_d0"], law="auto", folds=3, seed=0)
    cv = fit.cv.set_index("family")
    assert {"transfer_spearman", "transfer_regret_at_1", "transfer_mae"} <= set(cv.columns)
    assert cv[["transfer_spearman", "transfer_regret_at_1"]].notna().all().all()
    expected = transfer_choice(cv[["mae"]].to_dict("index"), cv[["transfer_spearman", "transfer_regret_at_1"]]
                               .to_dict("index"))
    assert fit.chosen["loss_d0"] == expected == cv.index[cv["chosen"]][0]
    # the joint law's transfer Spearman, computed independently: fit below 100M, rank the 100M runs' final point
    below = train[train["n_params"] < 1e8]
    top = train[(train["n_params"] == 1e8) & (train["n_tokens"] == train["n_tokens"].max())]
    domains = ["d0", "d1", "d2", "d3"]
    joint = make("joint", 0).fit(features(below, domains, True), below["loss_d0"].to_numpy())
    rho = spearmanr(top["loss_d0"], joint.predict(features(top, domains, True))).statistic
    assert cv.loc["joint", "transfer_spearman"] == pytest.approx(rho, abs=1e-9)
    selection = fit.law.selection
    assert selection["metric"] == "mae+transfer_spearman+transfer_regret_at_1"
    assert selection["transfer"]["loss_d0"] == {"by": "n_params", "fit_max": 5e7, "test_value": 1e8,
                                                 "test_mixtures": 10}
    fit.law.save(tmp_path / "law.json")
    assert load_law(tmp_path / "law.json").selection == selection


def test_a_one_scale_table_keeps_in_scale_cv_alone(train):
    one = train[train["n_params"] == 5e7]
    fit = fit_law(one, ["loss_d0"], law="auto", folds=3, seed=0)
    assert fit.law.selection["metric"] == "mae" and "transfer" not in fit.law.selection
    assert "transfer_spearman" not in fit.cv.columns
    assert fit.cv.loc[fit.cv["chosen"], "mae"].iloc[0] == fit.cv["mae"].min()
    named = fit_law(train, ["loss_d0"], law="exp", folds=3, seed=0)  # a named family is not a choice
    assert named.law.selection["metric"] == "mae" and np.isfinite(named.cv["mae"]).all()
