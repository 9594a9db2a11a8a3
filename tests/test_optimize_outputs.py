"""Pareto front, uncertainty, comparison, exports and MLflow logging of an optimization."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from mixtures.evaluation.baselines import best_observed
from mixtures.optimize import (
    compare_mixtures,
    hf_probabilities,
    log_optimization,
    make_problem,
    megatron_data_path,
    non_dominated,
    optimum_uncertainty,
    solve,
    trial_callback,
    write_exports,
)
from mixtures.resample.exports import parse_blend
from mixtures.tracking import Tracker
from tests.optimize_laws import FlatLaw, QuadraticLaw

DOMAINS = ["web", "code", "books"]
CENTRES = {"loss_web": [0.8, 0.1, 0.1], "loss_code": [0.1, 0.8, 0.1], "loss_docs": [0.3, 0.3, 0.4]}


@pytest.fixture
def law():
    return QuadraticLaw(DOMAINS, CENTRES)


def test_non_dominated_mask():
    values = np.array([[1, 5], [2, 2], [3, 3], [5, 1], [2, 2], [1, 6]], dtype=float)
    assert non_dominated(values).tolist() == [True, True, False, True, False, False]


@pytest.mark.parametrize("solver", ["nsga2", "motpe"])
def test_pareto_front_is_non_dominated_and_spans_the_trade_off(law, solver):
    problem = make_problem(law, {"web": {"loss_web": 1.0}, "code": {"loss_code": 1.0}}, bounds={"books": (0.05, 0.5)})
    trials = 200 if solver == "nsga2" else 80
    result = solve(problem, law, solver, trials=trials, batch=20, seed=0)
    same = solve(problem, law, solver, trials=trials, batch=20, seed=0)
    assert same.pareto.equals(result.pareto)  # seeded: the same front again
    front = result.pareto
    values = front[["web", "code"]].to_numpy()
    for i, row in enumerate(values):  # no point of the front dominates another
        others = np.delete(values, i, axis=0)
        assert not np.any(np.all(others <= row, axis=1) & np.any(others < row, axis=1))
    assert len(front) >= 8
    assert front["web"].is_monotonic_increasing and front["code"].is_monotonic_decreasing
    for row in front[[f"w_{d}" for d in DOMAINS]].to_numpy():
        assert not problem.violations(row)
    # the ends of the front approach each group's own constrained optimum
    alone = solve(make_problem(law, {"loss_web": 1.0}, bounds={"books": (0.05, 0.5)}), law, "slsqp")
    assert front["web"].min() == pytest.approx(alone.objective, abs=0.05)
    assert result.evaluations >= trials and set(result.objectives) == {"web", "code"}


def test_flat_objective_is_flagged_not_well_determined():
    law = FlatLaw(DOMAINS)
    problem = make_problem(law)
    result = solve(problem, law, "slsqp")
    report = optimum_uncertainty(problem, law, result, samples=500)
    assert not report.well_determined
    assert "NOT well determined" in report.message and "flat" in report.message
    assert len(report.member_weights) == 5


def test_sharp_objective_with_agreeing_members_is_well_determined():
    shifts = np.random.default_rng(0).normal(0, 0.003, size=(4, 3, 3))
    law = QuadraticLaw(DOMAINS, CENTRES, scales={t: 5.0 for t in CENTRES}, member_shifts=shifts)
    problem = make_problem(law)
    result = solve(problem, law, "slsqp")
    report = optimum_uncertainty(problem, law, result, samples=500)
    assert report.well_determined, report.message
    assert max(report.weight_std.values()) < 0.01 and report.objective_std > 0
    # members disagreeing a lot -> flagged by the spread of member optima
    wide = QuadraticLaw(DOMAINS, CENTRES, scales={t: 5.0 for t in CENTRES}, member_shifts=shifts * 60)
    flagged = optimum_uncertainty(problem, wide, solve(problem, wide, "slsqp"), samples=500)
    assert not flagged.well_determined and "member optima disagree" in flagged.message
    assert flagged.optimum_objective_std > 0 and len(flagged.member_weights) == 4
    # no members: only the flatness probe, and the message says so
    alone = optimum_uncertainty(problem, QuadraticLaw(DOMAINS, CENTRES, scales={t: 5.0 for t in CENTRES}), result,
                                samples=500)
    assert alone.well_determined and "only flatness was checked" in alone.message and alone.member_weights.empty


def test_comparison_puts_the_optimum_beside_baselines(law):
    problem = make_problem(law, natural={"web": 0.7, "code": 0.2, "books": 0.1})
    result = solve(problem, law, "slsqp")
    table = compare_mixtures(problem, law, result.weights, {"best_proxy": {"web": 0.5, "code": 0.3, "books": 0.2}})
    assert table["mixture"].tolist() == ["optimal", "natural", "uniform", "best_proxy"]
    assert table["objective"].idxmin() == 0 and table["feasible"].all()
    assert table.loc[0, "objective"] == pytest.approx(result.objective)
    assert {"loss_web", "loss_code", "loss_docs", "w_web"} <= set(table.columns)


def test_best_observed_run_uses_the_last_eval_point():
    import pandas as pd

    runs = pd.DataFrame({
        "run_id": ["a", "a", "b", "b"], "n_tokens": [10, 20, 10, 20],
        "w_web": [0.9, 0.9, 0.2, 0.2], "w_code": [0.1, 0.1, 0.8, 0.8], "w_books": [0.0] * 4,
        "loss_web": [1.0, 3.0, 2.0, 2.5], "loss_code": [1.0, 1.0, 1.0, 1.0],
    })
    # run a is best at the first point but worse at its final one
    assert best_observed(runs, {"loss_web": 1.0, "loss_code": 0.5}, DOMAINS) == ("b", {"web": 0.2, "code": 0.8, "books": 0.0})
    # a run that capped a domain's unique tokens (proxy.repeat_runs) measured repeated data: never the best proxy
    capped = pd.concat([runs, runs[runs["run_id"] == "b"].assign(run_id="c", loss_web=0.1, unique_code=[50.0, 50.0])])
    assert best_observed(capped, {"loss_web": 1.0, "loss_code": 0.5}, DOMAINS)[0] == "b"


def test_exports_parse_back(law, tmp_path):
    problem = make_problem(law)
    result = solve(problem, law, "slsqp")
    prefixes = {"web": "/data/web_text_document", "code": "/data/code_text_document", "books": "/data/books_text_document"}
    paths = write_exports(result, tmp_path, prefixes)
    mixture = json.loads(paths["mixture.json"].read_text())
    assert mixture["weights"] == result.weights and mixture["solver"] == "slsqp"
    blend = parse_blend(paths["megatron_blend.txt"].read_text())
    assert [p for _, p in blend] == [prefixes[d] for d in DOMAINS]
    assert [w for w, _ in blend] == pytest.approx([result.weights[d] for d in DOMAINS], abs=1e-9)
    hf = json.loads(paths["hf_probabilities.json"].read_text())
    assert hf["domains"] == DOMAINS and sum(hf["probabilities"]) == pytest.approx(1.0, abs=1e-12)
    block = yaml.safe_load(paths["mixture.yaml"].read_text())["data_mixture"]
    assert block["weights"] == pytest.approx(result.weights, abs=1e-9) and block["paths"] == prefixes
    # zero weights are left out of the blend; probabilities follow the given order
    assert megatron_data_path({"web": 0.75, "code": 0.0, "books": 0.25}) == "0.75 web 0.25 books"
    assert hf_probabilities({"web": 0.75, "books": 0.25}, ["books", "code", "web"]) == [0.25, 0.0, 0.75]


def test_a_persisted_pareto_study_resumes_and_keeps_its_trials(law, tmp_path):
    problem = make_problem(law, {"web": {"loss_web": 1.0}, "code": {"loss_code": 1.0}})
    store = str(tmp_path / "study.db")
    first = solve(problem, law, "nsga2", trials=20, batch=20, seed=0, storage=store)
    resumed = solve(problem, law, "nsga2", trials=40, batch=20, seed=0, storage=store)  # 20 more trials
    assert first.details["trials"] == 20 and resumed.details["trials"] == 40
    assert resumed.evaluations == 20 + 1  # only the new trials (and the pick) are predicted
    # the front is over every trial of the study: each point of the first front is matched or beaten
    old, new = first.pareto[["web", "code"]].to_numpy(), resumed.pareto[["web", "code"]].to_numpy()
    assert all(np.any(np.all(new <= row + 1e-12, axis=1)) for row in old)


def test_log_optimization_lands_in_a_real_sqlite_store(law, mlflow_uri):
    problem = make_problem(law, {"web": {"loss_web": 1.0}, "code": {"loss_code": 1.0}})
    result = solve(problem, law, "nsga2", trials=40, batch=20)
    tracker = Tracker(mlflow_uri, "optimize-test")
    with tracker.run("optimal_mixture", tags={"mixtures.pipeline": "abc"}) as run:
        log_optimization(run, result, natural={"web": 0.5, "code": 0.3, "books": 0.2}, problem=problem)
    got = tracker.client.get_run(run.run_id)
    assert got.data.params["solver"] == "pareto-nsga2"
    assert float(got.data.params["w_web"]) == pytest.approx(result.weights["web"], abs=1e-6)
    assert got.data.tags["mixtures.role"] == "optimization" and got.data.tags["mixtures.solver"] == "pareto-nsga2"
    assert got.data.metrics["predicted_objective"] == pytest.approx(result.objective)
    assert got.data.metrics["predicted.loss_web"] == pytest.approx(result.predicted["loss_web"])
    assert got.data.metrics["evaluations"] == result.evaluations
    names = {a.path for a in tracker.client.list_artifacts(run.run_id)}
    assert names == {"mixture.json", "megatron_blend.txt", "hf_probabilities.json", "mixture.yaml",
                     "weights.png", "pareto.png", "problem.json"}
    logged = json.loads(open(tracker.client.download_artifacts(run.run_id, "problem.json")).read())
    assert logged["objectives"] == problem.objectives and logged["bounds"]["web"]["max_by"] == "web<=1"
    from mixtures.cli.materialize_cmd import read_mixture_file

    weights, chosen_by = read_mixture_file(tracker.client.download_artifacts(run.run_id, "mixture.json"))
    assert weights == result.weights and chosen_by == run.run_id  # what 'mixtures materialize' reads
    local = tracker.client.download_artifacts(run.run_id, "weights.png")
    assert open(local, "rb").read(8) == b"\x89PNG\r\n\x1a\n"


def test_trial_callback_logs_every_trial(law, mlflow_uri):
    tracker = Tracker(mlflow_uri, "optimize-test")
    with tracker.run("tpe") as run:
        result = solve(make_problem(law), law, "tpe", trials=6, batch=3, callbacks=[trial_callback(run)])
    history = tracker.client.get_metric_history(run.run_id, "trial_objective_best")
    assert [m.step for m in history] == list(range(6))
    assert [m.value for m in history] == sorted((m.value for m in history), reverse=True)
    assert history[-1].value == pytest.approx(result.objective)
