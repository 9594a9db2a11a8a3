"""Decision metrics on hand-made tables: regret@1, the noise floor (seed spread), the out-of-fold objective,
the statement about the predicted gain against the noise floor; and `mixtures fit --decision-json`."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from mixtures.cli import main
from mixtures.evaluation.decision import gain_statement, noise_floor, oof_objective
from mixtures.laws.metrics import pooled_spread, regret_at_1


def test_regret_at_1_is_the_actual_of_the_first_ranked_minus_the_best():
    # the law ranks row 2 first (predicted 0.1); it measured 2.0, the best measured is 1.0
    assert regret_at_1([3.0, 1.0, 2.0], [0.5, 0.7, 0.1]) == pytest.approx(1.0)
    assert regret_at_1([3.0, 1.0, 2.0], [0.9, 0.2, 0.5]) == 0.0  # the law ranks the best first
    assert regret_at_1([np.nan, 1.0, 2.0], [0.0, 0.7, 0.1]) == pytest.approx(1.0)  # a missing row is skipped
    assert math.isnan(regret_at_1([np.nan], [1.0]))


def test_pooled_spread_weights_each_mixture_by_its_degrees_of_freedom():
    values = [1.0, 1.2, 2.0, 2.0, 2.3, 5.0]
    groups = ["a", "a", "b", "b", "b", "c"]  # c has one seed: no spread to measure
    spread, mixtures, runs = pooled_spread(values, groups)
    # a: var 0.02 (1 dof); b: var 0.03 (2 dof) -> sqrt((0.02 + 2 * 0.03) / 3)
    assert spread == pytest.approx(math.sqrt(0.08 / 3))
    assert (mixtures, runs) == (2, 5)
    assert math.isnan(pooled_spread([1.0, 2.0], ["a", "b"])[0])


def _table() -> pd.DataFrame:
    """Three mixtures at two eval points; uniform with three seeds, natural with two, one Dirichlet mixture."""
    rows = []
    finals = {("uniform", 0): (3.0, 3.2), ("uniform", 1): (3.1, 3.3), ("uniform", 2): (2.9, 3.1),
              ("natural", 0): (3.5, 3.5), ("natural", 1): (3.6, 3.8), ("dirichlet-000", 0): (2.0, 2.0)}
    weights = {"uniform": (0.5, 0.5), "natural": (0.8, 0.2), "dirichlet-000": (0.1, 0.9)}
    for (name, seed), (a, b) in finals.items():
        for tokens, shift in ((1000, 1.0), (2000, 0.0)):  # the early point is noisier, and not the fitting point
            rows.append({"run_id": f"{name}.micro.2000.s{seed}", "w_x": weights[name][0], "w_y": weights[name][1],
                         "n_params": 5e4, "n_tokens": tokens, "seed": seed,
                         "loss_a": a + shift * seed, "loss_b": b})
    return pd.DataFrame(rows)


def test_noise_floor_is_the_seed_spread_of_the_objective_at_the_final_point():
    spread, mixtures, runs = noise_floor(_table(), {"loss_a": 0.5, "loss_b": 0.5})
    # objective (a + b) / 2 at 2000 tokens: uniform 3.1, 3.2, 3.0 (var 0.01); natural 3.5, 3.7 (var 0.02)
    assert spread == pytest.approx(math.sqrt((2 * 0.01 + 0.02) / 3))
    assert (mixtures, runs) == (2, 5)
    single = _table().query("seed == 0")
    assert math.isnan(noise_floor(single, {"loss_a": 1.0})[0])


def test_oof_objective_combines_the_chosen_models_row_for_row():
    index = [3, 5, 7]
    oof = {"loss_a": pd.DataFrame({"actual": [1.0, 2.0, 3.0], "exp": [1.5, 1.9, 2.5], "linear": [9, 9, 9]}, index=index),
           "loss_b": pd.DataFrame({"actual": [3.0, 2.0, 1.0], "exp": [0, 0, 0], "linear": [2.5, 2.0, 0.5]},
                                  index=[5, 7, 9])}
    rows = oof_objective(oof, {"loss_a": "exp", "loss_b": "linear"}, {"loss_a": 0.5, "loss_b": 0.5})
    assert list(rows.index) == [5, 7]  # only rows both targets predicted out of fold
    assert rows["actual"].tolist() == [2.5, 2.5]
    assert rows["predicted"].tolist() == pytest.approx([(1.9 + 2.5) / 2, (2.5 + 2.0) / 2])


def test_gain_statement_says_plainly_when_the_gain_is_below_the_noise_floor():
    above, text = gain_statement(3.30, 3.40, "best_proxy", 0.01)
    assert above is True and "above the noise floor" in text and "0.1000" in text
    above, text = gain_statement(3.395, 3.40, "uniform", 0.01)
    assert above is False and text.startswith("BELOW THE NOISE FLOOR") and "uniform" in text
    above, text = gain_statement(3.30, 3.40, "natural", float("nan"))
    assert above is None and "proxy.repeats" in text


def test_fit_cli_writes_the_decision_metrics(tmp_path, capsys):
    from mixtures.laws.synthetic import synthetic_runs

    runs, _ = synthetic_runs(n_runs=10, n_domains=3, sizes=(5e7,), tokens=(1e9, 2e9), n_targets=1, seed=1)
    repeat = runs[runs["run_id"] == runs["run_id"].iloc[0]].copy()
    repeat["run_id"] += ".s1"
    repeat["seed"] = 1
    repeat["loss_d0"] += 0.01  # a second seed of the first mixture, 0.01 worse
    table = pd.concat([runs, repeat], ignore_index=True)
    path = tmp_path / "runs.parquet"
    table.to_parquet(path)
    out = tmp_path / "decision.json"
    assert main(["fit", "--runs", str(path), "--target", "loss_d0", "--law", "linear", "--folds", "3",
                 "--out", str(tmp_path / "law.json"), "--decision-json", str(out)]) == 0
    decision = json.loads(out.read_text())
    assert decision["noise_floor"] == pytest.approx(0.01 / math.sqrt(2))  # two seeds 0.01 apart
    assert (decision["noise_mixtures"], decision["noise_runs"]) == (1, 2)
    assert decision["oof_rows"] == 11 and decision["oof_regret_at_1"] >= 0
    assert "noise floor 0.0071" in capsys.readouterr().err
