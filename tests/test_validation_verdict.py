"""The validation verdict on hand-made results: a known winner, a tie within noise, a loser."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mixtures.errors import MixturesError
from mixtures.evaluation.verdict import compare, verdict_from_runs as validation_verdict


def _results(means: dict[str, float], spread: float, seeds: int = 3, predicted: dict[str, float] | None = None):
    rng = np.random.default_rng(0)
    rows = []
    for name, mean in means.items():
        noise = rng.normal(0.0, 1.0, seeds)
        noise = (noise - noise.mean()) / noise.std(ddof=1) * spread  # exactly `spread` std around `mean`
        for seed, value in enumerate(mean + noise):
            rows.append({"mixture_name": name, "seed": seed, "objective": value,
                         "predicted": (predicted or {}).get(name, np.nan)})
    return pd.DataFrame(rows)


def test_known_winner_is_reported_as_a_win_with_the_law_error():
    results = _results({"optimal": 2.00, "natural": 2.20, "uniform": 2.10}, spread=0.01,
                       predicted={"optimal": 2.02, "natural": 2.20, "uniform": 2.10})
    verdict = validation_verdict(results)
    assert verdict.best_baseline == "uniform"
    assert verdict.optimal_wins
    assert verdict.improvement_vs_best_baseline == pytest.approx(0.10, abs=1e-9)
    assert {c.baseline: c.outcome for c in verdict.comparisons} == {"natural": "win", "uniform": "win"}
    assert verdict.law_mre == pytest.approx((0.02 / 2.0) / 3, rel=1e-6)
    doc = verdict.to_json()
    assert json.loads(json.dumps(doc)) == doc  # JSON-clean
    assert doc["optimal"]["mean"] == pytest.approx(2.0) and doc["optimal"]["std"] == pytest.approx(0.01)
    assert doc["predicted_optimal"] == pytest.approx(2.02)
    assert "beats every baseline" in doc["summary"]


def test_difference_within_seed_noise_is_a_tie():
    results = _results({"optimal": 2.000, "natural": 2.005}, spread=0.02)
    verdict = validation_verdict(results)
    assert [c.outcome for c in verdict.comparisons] == ["tie"]
    assert not verdict.optimal_wins
    assert "tied within noise" in verdict.summary


def test_a_loss_is_said_plainly():
    results = _results({"optimal": 2.30, "natural": 2.10, "uniform": 2.40}, spread=0.01)
    verdict = validation_verdict(results)
    outcomes = {c.baseline: c.outcome for c in verdict.comparisons}
    assert outcomes == {"natural": "loss", "uniform": "win"}
    assert verdict.best_baseline == "natural"
    assert verdict.improvement_vs_best_baseline == pytest.approx(-0.20, abs=1e-9)
    assert "does NOT win" in verdict.summary and "LOSES to natural" in verdict.summary


def test_large_mean_gap_but_huge_noise_is_not_significant():
    comparison = compare(np.array([1.0, 2.0, 3.0]), np.array([1.5, 2.5, 3.5]), "natural")
    assert comparison.outcome == "tie" and comparison.p_value > 0.05


def test_missing_optimal_runs_are_refused():
    with pytest.raises(MixturesError, match="no runs of the 'optimal'"):
        validation_verdict(_results({"natural": 2.0}, spread=0.01))


def test_each_tasks_predicted_accuracy_of_the_optimum_stands_beside_the_measured_one():
    from mixtures.evaluation.verdict import task_accuracies
    from mixtures.report.sections import _verdict_tables

    results = _results({"optimal": 2.00, "natural": 2.20}, spread=0.01)
    results["acc_cloze"] = [0.40, 0.42, 0.47, 0.30, 0.31, np.nan]  # natural's seeds are not the optimum's
    results.loc[len(results)] = {"mixture_name": "optimal", "seed": 3, "objective": np.nan, "predicted": np.nan,
                                 "acc_cloze": np.nan}  # a run that failed: not measured, not counted
    predicted = {"taskloss_cloze": 1.9, "acc_cloze": 0.45, "acc_cloze_lo": 0.42, "acc_cloze_hi": 0.47}
    (line,) = task_accuracies(results, predicted, {"cloze": 0.25})
    doc = line.to_json()
    assert json.loads(json.dumps(doc)) == doc
    assert doc["n"] == 3 and doc["measured_mean"] == pytest.approx(0.43) and doc["chance"] == 0.25
    assert doc["abs_error_points"] == pytest.approx(2.0)  # |0.45 - 0.43| in points
    assert doc["abs_error_points_mean_over_seeds"] == pytest.approx((5 + 3 + 2) / 3)
    assert doc["predicted_interval"] == [0.42, 0.47] and doc["measured_within_interval"] is True
    assert doc["measured_std"] == pytest.approx(float(np.std([0.40, 0.42, 0.47], ddof=1)))
    assert "off by 2.00 points" in line.sentence()
    # the verdict of the objective does not see the task columns: validation.json only gains the key "tasks"
    plain = validation_verdict(results.drop(columns=["acc_cloze"])).to_json()
    assert validation_verdict(results).to_json() == plain
    # unmeasured (a trainer that does not report the task): said so, no error invented
    (unmeasured,) = task_accuracies(results.drop(columns=["acc_cloze"]), predicted, {"cloze": 0.25})
    assert unmeasured.to_json()["n"] == 0 and unmeasured.to_json()["abs_error_points"] is None
    assert "no validation run measured it" in unmeasured.sentence()
    with pytest.raises(MixturesError, match=r"task 'other': the optimum's prediction lacks \['acc_other'"):
        task_accuracies(results, predicted, {"other": 0.5})
    # the report renders the stored line as it is, and nothing more without tasks
    html = "".join(_verdict_tables("r1", {**plain, "tasks": [doc]}))
    assert "task accuracy of the optimal mixture" in html and "<td class=\"num\">0.45</td>" in html
    assert "task accuracy" not in "".join(_verdict_tables("r1", plain))
