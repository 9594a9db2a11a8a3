"""The two-step task law: the sigmoid recovers known parameters from noisy data, its bootstrap interval covers
the truth, and the two-step predictor reports the error of each step (synthetic tables, no training)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mixtures.laws.two_step import SigmoidAccuracy, fit_two_step

CHANCE, B, K, L0 = 0.25, 0.1, 3.0, 2.0


def _sigmoid(L):
    return CHANCE + (1 - CHANCE - B) / (1 + np.exp(K * (L - L0)))


def test_the_sigmoid_fit_recovers_known_parameters_from_noisy_data():
    rng = np.random.default_rng(0)
    L = rng.uniform(0.8, 3.5, 80)
    acc = _sigmoid(L) + rng.normal(0, 0.01, len(L))
    fit = SigmoidAccuracy(chance=CHANCE, bootstrap=40, random_state=0).fit(L.reshape(-1, 1), acc)
    b, k, l0 = fit.theta_
    assert b == pytest.approx(B, abs=0.02) and k == pytest.approx(K, rel=0.15) and l0 == pytest.approx(L0, abs=0.05)
    grid = np.array([[1.0], [2.0], [3.0]])
    lo, hi = fit.predict_interval(grid, level=0.95)
    assert np.all(lo <= _sigmoid(grid[:, 0]) + 1e-3) and np.all(_sigmoid(grid[:, 0]) <= hi + 1e-3)
    assert np.all(hi - lo < 0.05)
    again = SigmoidAccuracy(chance=CHANCE, bootstrap=40, random_state=0)
    again.set_fitted_state(fit.fitted_state())
    np.testing.assert_array_equal(again.predict(grid), fit.predict(grid))


def _table(rng, n_mixtures, shift=0.0):
    """Runs at one scale: the task loss linear in the weights (plus ``shift``), accuracy its sigmoid."""
    w = rng.dirichlet(np.ones(3), n_mixtures)
    loss = 2.6 - 1.4 * w[:, 0] + 0.2 * w[:, 1] + rng.normal(0, 0.005, n_mixtures)
    frame = pd.DataFrame(w, columns=["w_a", "w_b", "w_c"])
    frame["run_id"] = [f"r{i}" for i in range(n_mixtures)]
    frame["n_params"], frame["n_tokens"] = 1e5, 1e6
    frame["loss_a"] = 0.5 + 0.8 * (loss - 0.9) ** 1.2  # a domain loss the task loss follows (loss-to-loss)
    frame["taskloss_cloze"] = loss + shift
    frame["acc_cloze"] = _sigmoid(loss + shift) + rng.normal(0, 0.005, n_mixtures)
    return frame


def test_the_two_step_predictor_reports_the_error_of_each_step():
    rng = np.random.default_rng(1)
    law = fit_two_step(_table(rng, 40), "cloze", chance=CHANCE, law="linear", bootstrap=20)
    held_out = _table(rng, 20)
    errors = law.step_errors(held_out)
    assert set(errors) == {"loss", "accuracy_given_loss", "accuracy"}
    assert errors["loss"]["mae"] < 0.02 and errors["accuracy_given_loss"]["mae"] < 0.015
    assert errors["accuracy"]["mae"] < 0.02 and errors["accuracy"]["n"] == 20
    # runs whose task loss is off by 0.3 bits/byte: step 1 is wrong, step 2 still right on the measured loss
    shifted = law.step_errors(_table(rng, 20, shift=0.3))
    assert shifted["loss"]["mae"] == pytest.approx(0.3, abs=0.03)
    assert shifted["accuracy_given_loss"]["mae"] < 0.015 < 0.05 < shifted["accuracy"]["mae"]
    predicted = law.predict(held_out)
    assert list(predicted.columns) == ["taskloss_cloze", "acc_cloze", "acc_cloze_lo", "acc_cloze_hi"]
    assert (predicted["acc_cloze_lo"] <= predicted["acc_cloze"] + 1e-12).all()
    assert (predicted["acc_cloze"] <= predicted["acc_cloze_hi"] + 1e-12).all()


def test_loss_to_loss_maps_a_domain_loss_to_the_task_loss():
    rng = np.random.default_rng(2)
    law = fit_two_step(_table(rng, 40), "cloze", chance=CHANCE, law="linear", via="loss_a", bootstrap=0)
    assert law.loss_map is not None and law.via == "loss_a"
    errors = law.step_errors(_table(rng, 20))
    assert errors["loss"]["mae"] < 0.03 and errors["accuracy"]["mae"] < 0.03


def test_a_table_without_the_task_columns_is_refused_by_name():
    from mixtures.errors import TableError

    frame = _table(np.random.default_rng(3), 10).drop(columns=["acc_cloze"])
    with pytest.raises(TableError, match=r"no column\(s\) \['acc_cloze'\]"):
        fit_two_step(frame, "cloze", chance=CHANCE)


def _task_table(config, rng, n_mixtures=30):
    """Runs over the config's domains: ``loss_docs`` lowered a little by ``literature``, the task loss lowered a
    lot by ``code`` (accuracy its sigmoid)."""
    domains = config.domain_names
    w = rng.dirichlet(np.ones(len(domains)), n_mixtures)
    frame = pd.DataFrame(w, columns=[f"w_{d}" for d in domains])
    frame["run_id"] = [f"r{i}" for i in range(n_mixtures)]
    frame["n_params"], frame["n_tokens"] = 1e5, 1e6
    col = {d: w[:, i] for i, d in enumerate(domains)}
    frame["loss_docs"] = 2.0 - 0.2 * col["literature"] + rng.normal(0, 0.002, n_mixtures)
    loss = 2.6 - 1.4 * col["code"] + rng.normal(0, 0.005, n_mixtures)
    frame["taskloss_cloze"] = loss
    frame["acc_cloze"] = _sigmoid(loss) + rng.normal(0, 0.005, n_mixtures)
    return frame


def test_a_task_with_weight_moves_the_optimum_toward_the_domain_that_lowers_its_loss(tmp_path):
    from mixtures.config import TaskConfig
    from mixtures.laws import TaskLaw, fit_law, fit_task_laws
    from mixtures.optimize import build_problem, solve
    from mixtures.optimize.law import MemberLaw
    from tests.proxy_fixture import fixture_config

    config = fixture_config(tmp_path)
    table = _task_table(config, np.random.default_rng(4))
    base = fit_law(table, ["loss_docs"], law="linear", bootstrap=4).law
    law = TaskLaw(base, fit_task_laws(table, {"cloze": CHANCE}, law="linear", bootstrap=20, law_bootstrap=4))
    assert law.targets == ["loss_docs", "acc_cloze"] and law.domains == config.domain_names
    optima = {}
    for weight in (0.0, 1.0):
        config.target.tasks = [TaskConfig(name="cloze", path="c.jsonl", weight=weight)]
        problem = build_problem(config, law, None)  # the objective of mixtures.objective, from the config
        optima[weight] = solve(problem, law, solver="slsqp", seed=0)
    reported, weighted = optima[0.0], optima[1.0]
    assert "acc_cloze" not in reported.predicted and reported.weights["literature"] > 0.9
    assert weighted.weights["code"] > reported.weights["code"] + 0.5  # the task's accuracy pulls toward code
    frame = pd.DataFrame([{f"w_{d}": w for d, w in weighted.weights.items()}])
    two_step = law.tasks["cloze"].predict(frame)
    assert weighted.predicted["acc_cloze"] == pytest.approx(float(two_step["acc_cloze"].iloc[0]), abs=1e-12)
    assert weighted.objective == pytest.approx(0.5 * weighted.predicted["loss_docs"] - 0.5 * weighted.predicted["acc_cloze"])
    members = law.predict_members(frame)
    assert members.shape == (4, 1, 2)
    assert np.all(np.abs(members[:, 0, 1] - weighted.predicted["acc_cloze"]) < 0.05)
    assert set(MemberLaw(law, 0).predict(frame).columns) == {"loss_docs", "acc_cloze"}


def test_step1_from_fits_step_one_on_the_later_part_of_each_curve():
    from mixtures.laws import MixtureLawRegressor

    rng = np.random.default_rng(5)
    base = _table(rng, 12)

    def at(tokens):  # the task loss falls with D as a power law; its accuracy follows
        frame = base.assign(n_tokens=tokens)
        frame["taskloss_cloze"] = base["taskloss_cloze"] + 40.0 * tokens ** -0.4
        frame["acc_cloze"] = _sigmoid(frame["taskloss_cloze"])
        return frame

    frame = pd.concat([at(d) for d in (1e5, 2e5, 3e5, 4e5)], ignore_index=True)
    late = fit_two_step(frame, "cloze", chance=CHANCE, law="additive", bootstrap=0, step1_from=0.5)
    every = fit_two_step(frame, "cloze", chance=CHANCE, law="additive", bootstrap=0)
    later = frame[frame["n_tokens"] >= 2e5]  # half of each run's final 4e5 tokens
    alone = MixtureLawRegressor(law="additive").fit(later, later["taskloss_cloze"]).law_
    target = at(1.6e6)
    np.testing.assert_array_equal(late.predict_loss(target), alone.predict(target).iloc[:, 0].to_numpy())
    assert not np.array_equal(late.predict_loss(target), every.predict_loss(target))
    np.testing.assert_array_equal(late.accuracy.theta_, every.accuracy.theta_)  # step 2 sees every point
    with pytest.raises(ValueError, match="step1_from must be in"):
        fit_two_step(frame, "cloze", chance=CHANCE, law="linear", step1_from=1.0)


def test_a_law_without_tasks_refuses_an_accuracy_objective_and_says_where_it_is_predicted(tmp_path):
    from mixtures.config import TaskConfig
    from mixtures.errors import ConfigError
    from mixtures.laws import fit_law
    from mixtures.optimize import build_problem
    from tests.proxy_fixture import fixture_config

    config = fixture_config(tmp_path)
    config.target.tasks = [TaskConfig(name="cloze", path="c.jsonl", weight=1.0)]
    law = fit_law(_task_table(config, np.random.default_rng(6)), ["loss_docs"], law="linear").law  # law.json's kind
    with pytest.raises(ConfigError, match=r"does not predict \['acc_cloze'\].*two-step law \(mixtures.laws.TaskLaw"):
        build_problem(config, law, None)
