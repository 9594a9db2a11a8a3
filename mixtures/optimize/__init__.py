"""Optimize domain weights against a fitted mixing law, under real constraints.

>>> problem = build_problem(config, law, catalog)            # or make_problem(law, {...}, bounds=...)
>>> result = solve(problem, law, solver="slsqp", seed=0)     # any name in SOLVERS, options as keywords
>>> front = solve(problem, law, solver="nsga2").pareto        # several objective groups: their Pareto front
>>> spread = optimum_uncertainty(problem, law, result)       # bootstrap / ensemble members
>>> compare_mixtures(problem, law, result.weights, {"best_proxy": {...}})
"""

from mixtures.optimize.compare import compare_mixtures
from mixtures.optimize.exports import hf_probabilities, megatron_data_path, mixture_json, mixture_yaml, write_exports
from mixtures.optimize.law import Evaluator, LawLike, MemberLaw
from mixtures.optimize.pareto import non_dominated
from mixtures.optimize.problem import Problem, build_problem, make_problem
from mixtures.optimize.result import OptimizationResult
from mixtures.optimize.solvers import SOLVERS, Solver, describe_options, make_solver, solve
from mixtures.optimize.tracking import log_optimization, trial_callback
from mixtures.optimize.uncertainty import Uncertainty, optimum_uncertainty

__all__ = [
    "SOLVERS", "Evaluator", "LawLike", "MemberLaw", "OptimizationResult", "Problem", "Solver",
    "Uncertainty", "build_problem", "compare_mixtures", "describe_options", "hf_probabilities", "log_optimization",
    "make_problem", "make_solver", "megatron_data_path", "mixture_json", "mixture_yaml", "non_dominated",
    "optimum_uncertainty", "solve", "trial_callback", "write_exports",
]
