"""Constraints hold exactly on outputs; infeasible sets are refused naming the conflict, before solving."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mixtures.config import parse_config
from mixtures.errors import InfeasibleError
from mixtures.objective import objective_weights
from mixtures.optimize import build_problem, make_problem, solve
from mixtures.optimize.simplex import kl_to_natural, project_box_simplex
from tests.optimize_laws import QuadraticLaw

DOMAINS = ["web", "code", "books", "papers"]
NATURAL = {"web": 0.6, "code": 0.2, "books": 0.15, "papers": 0.05}


def greedy_law():
    """Wants all weight on code: the constraints decide the answer."""
    return QuadraticLaw(DOMAINS, {"loss_code": [0.0, 1.0, 0.0, 0.0], "loss_web": [0.2, 0.6, 0.1, 0.1]})


def assert_exactly_feasible(problem, weights):
    w = np.array([weights[d] for d in problem.domains])
    assert np.all(w >= problem.lower) and np.all(w <= problem.upper)  # exact, no tolerance
    assert abs(w.sum() - 1.0) <= 1e-12
    if problem.kl_max is not None:
        assert kl_to_natural(w, problem.natural)[0] <= problem.kl_max


@pytest.mark.parametrize("solver", ["slsqp", "cmaes", "random"])
def test_bounds_availability_and_kl_hold_exactly(solver):
    law = greedy_law()
    problem = make_problem(
        law, {"loss_code": 1.0}, bounds={"web": (0.2, 0.9), "papers": (0.01, 0.3)},
        available_tokens={"web": 1e9, "code": 1.2e6, "books": 5e6, "papers": 1e6}, max_epochs=4,
        max_epochs_per_domain={"papers": 10}, tokens=1e7, natural=NATURAL, kl_max=0.5,
    )
    assert problem.upper[1] == pytest.approx(4 * 1.2e6 / 1e7)  # code <= 0.48 by availability
    assert "data availability" in problem.why_upper[1]
    assert problem.upper[3] == pytest.approx(0.3)  # papers: 10 epochs x 1M / 10M = 1.0, bound 0.3 wins
    budget = {"slsqp": {}, "cmaes": {"trials": 40}, "random": {"samples": 5000}}[solver]
    result = solve(problem, law, solver, seed=0, **budget)
    assert_exactly_feasible(problem, result.weights)
    if solver == "slsqp":  # the greedy law pushes code to the tightest active constraint
        w = np.array([result.weights[d] for d in DOMAINS])
        active_kl = abs(kl_to_natural(w, problem.natural)[0] - 0.5) < 1e-6
        assert active_kl or result.weights["code"] == pytest.approx(problem.upper[1])


def test_projection_is_exact_on_random_points():
    rng = np.random.default_rng(0)
    lower = np.array([0.05, 0.0, 0.1, 0.0, 0.2])
    upper = np.array([0.5, 0.1, 0.6, 0.3, 0.9])
    points = rng.normal(0.2, 0.5, size=(2000, 5))
    out = project_box_simplex(points, lower, upper)
    assert np.all(out >= lower) and np.all(out <= upper)
    assert np.abs(out.sum(axis=1) - 1).max() <= 1e-12
    # it is the Euclidean projection: no feasible point sampled is closer
    feasible = project_box_simplex(rng.dirichlet(np.ones(5), size=500), lower, upper)
    for p, q in zip(points[:50], out[:50], strict=True):
        assert np.linalg.norm(p - q) <= np.linalg.norm(feasible - p, axis=1).min() + 1e-9


def test_sum_of_maxima_below_one_names_every_cap():
    law = greedy_law()
    with pytest.raises(InfeasibleError) as info:
        make_problem(law, available_tokens={"web": 2e6, "code": 1.2e6, "books": 1e6, "papers": 1e6},
                     max_epochs=4, tokens=100e6, bounds={"books": (0.0, 0.05)})
    message = str(info.value)
    assert "sum of per-domain maxima" in message and "< 1" in message
    assert "code<=0.048 by data availability: 4 epochs x 1.2M tokens / 100M" in message
    assert "books<=0.04 by data availability" in message and "web<=0.08" in message


def test_minimum_above_availability_and_minima_above_one_are_named():
    law = greedy_law()
    with pytest.raises(InfeasibleError, match=r"code: code>=0.3 by bounds > code<=0.048 by data availability"):
        make_problem(law, bounds={"code": (0.3, 1.0)}, available_tokens={d: 1.2e6 if d == "code" else 1e9 for d in DOMAINS},
                     tokens=1e8)
    with pytest.raises(InfeasibleError, match=r"sum of per-domain minima \(web>=0.6 by bounds, books>=0.5 by bounds\)"):
        make_problem(law, bounds={"web": (0.6, 1.0), "books": (0.5, 1.0)})


def test_kl_bound_conflicting_with_bounds_is_refused():
    with pytest.raises(InfeasibleError, match=r"KL\(w \|\| natural\) <= 0.01 conflicts with the bounds \(.*code"):
        make_problem(greedy_law(), bounds={"code": (0.7, 1.0)}, natural=NATURAL, kl_max=0.01)


def test_infeasible_is_refused_before_any_prediction():
    law = greedy_law()
    with pytest.raises(InfeasibleError):
        make_problem(law, bounds={"web": (0.9, 1.0), "code": (0.2, 1.0)})
    assert law.frames_seen == []


def test_kl_penalty_pulls_toward_natural():
    law = greedy_law()
    free = solve(make_problem(law, {"loss_code": 1.0}, natural=NATURAL), law, "slsqp")
    pulled = solve(make_problem(law, {"loss_code": 1.0}, natural=NATURAL, kl_penalty=1.0), law, "slsqp")
    nat = np.array(list(NATURAL.values()))
    kl = lambda r: kl_to_natural(np.array([r.weights[d] for d in DOMAINS]), nat)[0]  # noqa: E731
    assert kl(pulled) < kl(free) - 0.1


def project_config(**sections):
    data = {"domains": [{"name": d, "paths": [f"{d}.jsonl"]} for d in DOMAINS], **sections}
    return parse_config(data, source="test.yaml", base_dir=".")


def catalog():
    rows = [{"domain": d, "role": "train", "train_tokens": share * 1e7, "tokens": share * 1.05e7}
            for d, share in NATURAL.items()]
    rows.append({"domain": "docs", "role": "target", "train_tokens": 1e5, "tokens": 1.1e5})
    return pd.DataFrame(rows)


def test_build_problem_from_config_and_catalog():
    law = QuadraticLaw(DOMAINS, {"loss_web": [1, 0, 0, 0], "loss_code": [0, 1, 0, 0], "loss_docs": [0.2, 0.2, 0.3, 0.3],
                                 "loss_books": [0, 0, 1, 0], "loss_papers": [0, 0, 0, 1]})
    config = project_config(
        target={"domains": {"web": 1.0}, "sets": [{"name": "docs", "paths": ["docs.jsonl"], "weight": 2.0}]},
        constraints={"bounds": {"books": [0.05, 0.5]}, "max_epochs": 2, "kl_to_natural_max": 1.0},
        optimize={"tokens": 2e7},
    )
    problem = build_problem(config, law, catalog())
    # the project's one objective (mixtures.objective): weights normalised to sum to 1
    assert problem.objectives == {"objective": objective_weights(config)} == {
        "objective": {"loss_web": pytest.approx(1 / 3), "loss_docs": pytest.approx(2 / 3)}}
    np.testing.assert_allclose(problem.natural, list(NATURAL.values()))
    # availability from train tokens: papers 2 epochs x 0.5M / 20M = 0.05
    assert problem.upper[3] == pytest.approx(0.05) and problem.lower[2] == 0.05 and problem.kl_max == 1.0
    # no target in the config: the natural shares of the training domains
    default = build_problem(project_config(), law, catalog(), tokens=1e6)
    assert default.objectives["objective"] == pytest.approx({f"loss_{d}": s for d, s in NATURAL.items()})


def test_dust_weights_are_dropped_unless_a_bound_keeps_them():
    from mixtures.optimize.result import DUST, drop_dust

    law = greedy_law()
    problem = make_problem(law, {"loss_code": 1.0}, bounds={"papers": (0.0004, 0.3)}, natural=NATURAL)
    w = np.array([0.3, 0.6995, 0.0001, 0.0004])
    cleaned = drop_dust(problem, w)
    assert cleaned[2] == 0.0 and DUST > 0.0001  # books: dust, dropped (exactly)
    assert cleaned[3] == pytest.approx(0.0004, rel=1e-3)  # papers: its lower bound keeps it
    assert cleaned.sum() == pytest.approx(1.0, abs=1e-12) and not problem.violations(cleaned)
    result = solve(problem, law, "slsqp", seed=0)
    assert all(v == 0.0 or v >= DUST or d == "papers" for d, v in result.weights.items())


def test_dust_left_by_a_solver_is_exactly_zero():
    from mixtures.optimize.result import drop_dust

    problem = make_problem(greedy_law(), {"loss_code": 1.0}, natural=NATURAL)
    w = np.array([1.5e-5, 0.95, 0.05 - 1.5e-5 - 1e-15, 1e-15])  # as SLSQP leaves them
    cleaned = drop_dust(problem, w)
    assert cleaned[0] == 0.0 and cleaned[3] == 0.0 and abs(cleaned.sum() - 1.0) <= 1e-12
