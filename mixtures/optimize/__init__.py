"""Optimize domain weights against a fitted mixing law, under real constraints.

>>> problem = build_problem(config, law, catalog)            # or make_problem(law, {...}, bounds=...)
>>> result = solve(problem, law, solver="slsqp", seed=0)     # any name in SOLVERS, options as keywords
>>> front = solve(problem, law, solver="nsga2").pareto        # several objective groups: their Pareto front
>>> spread = optimum_uncertainty(problem, law, result)       # bootstrap / ensemble members
>>> compare_mixtures(problem, law, result.weights, {"best_proxy": {...}})

The names load lazily (PEP 562): the config checks a solver's name and options against
:data:`~mixtures.optimize.solvers.SOLVERS` without importing the problem, which imports the config.
"""

from mixtures.lazy import lazy_exports

_EXPORTS = {
    "compare_mixtures": "compare", "hf_probabilities": "exports", "megatron_data_path": "exports",
    "mixture_json": "exports", "mixture_yaml": "exports", "write_exports": "exports", "Evaluator": "law",
    "LawLike": "law", "MemberLaw": "law", "non_dominated": "pareto", "Problem": "problem", "build_problem": "problem",
    "make_problem": "problem", "OptimizationResult": "result", "SOLVERS": "solvers", "Solver": "solvers",
    "describe_options": "solvers", "make_solver": "solvers", "solve": "solvers", "log_optimization": "tracking",
    "trial_callback": "tracking", "Uncertainty": "uncertainty", "optimum_uncertainty": "uncertainty",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
