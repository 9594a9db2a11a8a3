"""Every solver finds the known optimum of a hand-built law; results are exactly feasible and seeded;
solvers come from one registry with typed options; the optimizer's objective is the project's."""

from __future__ import annotations

import numpy as np
import pytest

from mixtures.config import parse_config
from mixtures.errors import ConfigError
from mixtures.objective import objective_of, objective_weights
from mixtures.optimize import SOLVERS, build_problem, compare_mixtures, make_problem, make_solver, solve
from tests.optimize_laws import QuadraticLaw

DOMAINS = ["web", "code", "books", "papers", "wiki"]
# loss_x + loss_y is minimal at the mean of the centres: (0.25, 0.2, 0.15, 0.2, 0.2)
CENTRES = {"loss_x": [0.4, 0.3, 0.1, 0.1, 0.1], "loss_y": [0.1, 0.1, 0.2, 0.3, 0.3]}
OPTIMUM = np.array([0.25, 0.2, 0.15, 0.2, 0.2])
BUDGETS = {"slsqp": {}, "tpe": {"trials": 150}, "cmaes": {"trials": 150}, "random": {"samples": 20_000}}
TOLERANCE = {"slsqp": 1e-4, "tpe": 0.04, "cmaes": 0.02, "random": 0.02}


@pytest.fixture
def law():
    return QuadraticLaw(DOMAINS, CENTRES)


@pytest.mark.parametrize("solver", ["slsqp", "tpe", "cmaes", "random"])
def test_solver_finds_the_known_optimum(law, solver):
    problem = make_problem(law, {"loss_x": 1.0, "loss_y": 1.0}, natural=dict(zip(DOMAINS, [0.5, 0.2, 0.1, 0.1, 0.1])))
    result = solve(problem, law, solver, seed=3, **BUDGETS[solver])
    got = np.array([result.weights[d] for d in DOMAINS])
    assert np.abs(got - OPTIMUM).max() < TOLERANCE[solver], (solver, got)
    # the objective is the mean of the two losses (weights 1, 1 normalised)
    best = 2.0 + 0.5 * (((np.array(CENTRES["loss_x"]) - OPTIMUM) ** 2).sum()
                        + ((np.array(CENTRES["loss_y"]) - OPTIMUM) ** 2).sum())
    assert result.objective == pytest.approx(best, abs=5e-3)
    assert result.objective >= best - 1e-12
    assert result.evaluations == sum(len(f) for f in law.frames_seen)  # every predicted row counted
    assert result.seconds > 0 and not problem.violations(got)
    assert set(result.predicted) == {"loss_x", "loss_y"}


def test_slsqp_is_cheaper_than_random_search_and_as_good(law):
    problem = make_problem(law, {"loss_x": 1.0, "loss_y": 1.0})
    fast = solve(problem, law, "slsqp", seed=0)
    slow = solve(problem, law, "random", seed=0)
    assert fast.objective <= slow.objective + 1e-12
    assert fast.evaluations <= 0.01 * slow.evaluations


@pytest.mark.parametrize("solver", ["slsqp", "tpe", "cmaes", "random"])
def test_same_seed_same_weights(law, solver):
    problem = make_problem(law)
    budget = {"slsqp": {}, "tpe": {"trials": 30}, "cmaes": {"trials": 40}, "random": {"samples": 5000}}[solver]
    a = solve(problem, law, solver, seed=7, **budget)
    b = solve(problem, law, solver, seed=7, **budget)
    assert a.weights == b.weights and a.evaluations == b.evaluations
    other = solve(problem, law, solver, seed=8, **budget)
    assert solver == "slsqp" or other.weights != a.weights  # the seed matters where draws are random


def test_scale_is_passed_when_the_law_uses_it():
    law = QuadraticLaw(DOMAINS, CENTRES, uses_scale=True, size_coef=1e6)
    with pytest.raises(ConfigError, match="final scale"):
        make_problem(law)
    problem = make_problem(law, tokens=1e9, n_params=1e6)
    result = solve(problem, law, "slsqp")
    assert set(law.frames_seen[0]["n_params"]) == {1e6} and set(law.frames_seen[0]["n_tokens"]) == {1e9}
    # the scale term adds 1 to each of the two targets (averaged objective)
    assert result.predicted["loss_x"] > 3.0


def test_tpe_study_persists_in_sqlite(law, tmp_path):
    problem = make_problem(law, {"loss_x": 1.0})
    store = tmp_path / "study.db"
    first = solve(problem, law, "tpe", seed=1, trials=6, batch=6, storage=str(store))
    again = solve(problem, law, "tpe", seed=1, trials=10, batch=6, storage=str(store))  # resumes: 4 new trials
    assert store.is_file()
    assert first.details["trials"] == 6 and again.details["trials"] == 10
    assert again.evaluations == 4 + 1 and again.objective <= first.objective + 1e-12


def test_unknown_target_and_solver_are_refused(law):
    with pytest.raises(ConfigError, match="does not predict"):
        make_problem(law, {"loss_nope": 1.0})
    with pytest.raises(ConfigError, match=r"unknown solver 'adam' \(optimize.solver\).*Choose one of"):
        solve(make_problem(law), law, "adam")


class NanLaw(QuadraticLaw):
    def predict(self, frame):
        out = super().predict(frame)
        out.loc[frame["w_code"] > 0.5, "loss_x"] = np.nan
        return out


def test_non_finite_prediction_is_a_clear_error():
    from mixtures.errors import MixturesError

    law = NanLaw(DOMAINS, CENTRES)
    with pytest.raises(MixturesError, match=r"predicts nan for loss_x at mixture \{'web'"):
        solve(make_problem(law), law, "random", samples=2000)


# -- the registry -------------------------------------------------------------------------------------


def test_the_registry_lists_each_solver_once_and_the_config_accepts_exactly_its_names(law):
    names = SOLVERS.names()
    assert len(names) == len(set(names)) and {"slsqp", "tpe", "cmaes", "random", "nsga2", "motpe"} <= set(names)
    base = {"domains": [{"name": d, "paths": [f"{d}.jsonl"]} for d in DOMAINS]}
    for name in names:
        assert parse_config({**base, "optimize": {"solver": name}}).optimize.solver == name
    for wrong in ("SLSQP", "adam", "pareto"):
        with pytest.raises(ConfigError, match=rf"optimize: unknown solver '{wrong}'"):
            parse_config({**base, "optimize": {"solver": wrong}})
    with pytest.raises(ConfigError, match=r"unknown key 'optimize.starts'"):  # options live in optimize.options
        parse_config({**base, "optimize": {"starts": 8}})


def test_solver_options_are_typed_and_checked():
    assert make_solver("slsqp").starts == 8  # SLSQP's one default number of starts
    assert make_solver("tpe", trials="12").trials == 12  # coerced (a CLI value arrives as text)
    with pytest.raises(ConfigError, match=r"solver 'tpe' has no option 'trails'; did you mean 'trials'\?.*batch: int"):
        make_solver("tpe", trails=10)
    with pytest.raises(ConfigError, match=r"solver 'slsqp': option starts: Input should be a valid integer"):
        make_solver("slsqp", starts="many")
    assert make_solver("slsqp").gradient == "auto"  # the law's analytic gradient where it has one
    with pytest.raises(ConfigError, match=r"option gradient: Input should be 'auto' or 'finite'"):
        make_solver("slsqp", gradient="exact")
    base = {"domains": [{"name": d, "paths": [f"{d}.jsonl"]} for d in DOMAINS]}
    with pytest.raises(ConfigError, match=r"solver 'random' has no option 'trials'"):
        parse_config({**base, "optimize": {"solver": "random", "options": {"trials": 5}}})


def test_slsqp_runs_its_default_starts(law):
    result = solve(make_problem(law), law, "slsqp")
    assert len(result.details["starts"]) == make_solver("slsqp").starts
    assert len(solve(make_problem(law), law, "slsqp", starts=2).details["starts"]) == 2
    assert result.details["gradient"] == "finite"  # the hand-built law has no gradient: finite differences


@pytest.mark.parametrize("solver", ["nsga2", "motpe"])
def test_pareto_solvers_also_minimize_one_objective(law, solver):
    problem = make_problem(law, {"loss_x": 1.0, "loss_y": 1.0})
    result = solve(problem, law, solver, trials=60, batch=20, seed=0)
    slsqp = solve(problem, law, "slsqp")
    assert result.pareto is not None and len(result.pareto) == 1  # one group: the front is its best point
    assert result.objective == pytest.approx(result.pareto["objective"].iloc[0])
    assert slsqp.objective <= result.objective < slsqp.objective + 0.05


# -- one objective --------------------------------------------------------------------------------------


def test_the_optimizers_objective_is_the_projects_objective():
    # the demo's shape: two held-out target sets at weight 1.0 each (build_problem once doubled it)
    law = QuadraticLaw(DOMAINS, {"loss_docs": [0.4, 0.3, 0.1, 0.1, 0.1], "loss_appcode": [0.1, 0.5, 0.2, 0.1, 0.1]},
                       scales={"loss_docs": 1.0, "loss_appcode": 3.0})
    config = parse_config({"domains": [{"name": d, "paths": [f"{d}.jsonl"]} for d in DOMAINS],
                           "target": {"sets": [{"name": "docs", "paths": ["d.jsonl"], "weight": 1.0},
                                               {"name": "appcode", "paths": ["a.jsonl"], "weight": 1.0}]}})
    weights = objective_weights(config)
    problem = build_problem(config, law, None)
    assert problem.objectives == {"objective": weights}
    for solver, options in {"slsqp": {}, "random": {"samples": 2000}, "tpe": {"trials": 20}}.items():
        result = solve(problem, law, solver, seed=0, **options)
        assert result.objective == pytest.approx(objective_of(result.predicted, weights), rel=1e-12, abs=0)
    table = compare_mixtures(problem, law, result.weights)
    np.testing.assert_allclose(table["objective"], objective_of(table, weights), rtol=1e-12)
