"""Refit and re-optimize a reuse: the law over the components, its optimum, expanded to every domain.

Which runs enter the refit: **only runs of the current setup** (the new swarm, trained on the current corpus).
The previous design's runs trained on the old corpus (their ``setup`` digest differs: the catalog's content
hashes are part of it) and over the old domains; they are data about that corpus. They enter the reuse once,
through the previous optimum: its ratios over the unchanged domains are the virtual domain, and the previous
optimum itself (``virtual`` alone) is the first mixture of the swarm, trained again on the current setup.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from mixtures.laws import LawFit, fit_law
from mixtures.reuse.plan import VIRTUAL, ReusePlan


@dataclass
class ReuseResult:
    """``weights``: every current domain; ``components``: the optimum over the reuse's components;
    ``fit``: the law over the components (None when no run was needed); ``predicted``: its objective."""

    plan: ReusePlan
    weights: dict[str, float]
    components: dict[str, float]
    fit: LawFit | None
    predicted: float | None


def reoptimize(plan: ReusePlan, runs: pd.DataFrame, objective: Mapping[str, float], *, law: str = "auto",
               folds: int = 5, bootstrap: int = 0, seed: int = 0, caps: Mapping[str, float] | None = None,
               natural: Mapping[str, float] | None = None, kl_penalty: float = 0.0, solver: str = "slsqp",
               n_params: float | None = None, n_tokens: float | None = None, **options) -> ReuseResult:
    """The reuse's optimum.

    Parameters
    ----------
    plan : the :class:`ReusePlan`.
    runs : the swarm's run table (``w_<domain>`` of every current domain, losses); unused when
        ``plan.needs_runs`` is False (a removal: the previous ratios, renormalised).
    objective : ``{loss column: weight}``.
    law, folds, bootstrap, seed : as :func:`mixtures.laws.fit_law`.
    caps : per-domain weight upper bounds (data availability at the final budget), turned into the
        components' bounds.
    natural, kl_penalty : the prior and the weight of the optimizer's KL-to-prior term.
    solver, options : a solver of :data:`mixtures.optimize.SOLVERS` and its options.
    n_params, n_tokens : the scale the optimum is predicted at (scaling laws).
    """
    if not plan.needs_runs:
        only = {plan.components[0]: 1.0}
        return ReuseResult(plan, plan.expand(only), only, None, None)
    from mixtures.optimize import solve

    table = plan.component_table(runs)
    fit = fit_law(table, list(objective), law=law, folds=folds, bootstrap=bootstrap, seed=seed)
    problem = component_problem(plan, fit.law, objective, caps=caps, natural=natural, kl_penalty=kl_penalty,
                                n_params=n_params, n_tokens=n_tokens)
    result = solve(problem, fit.law, solver=solver, seed=seed, **options)
    components = {c: float(result.weights[c]) for c in plan.components}
    return ReuseResult(plan, plan.expand(components), components, fit, float(result.objective))


def component_problem(plan: ReusePlan, law, objective: Mapping[str, float], *, caps: Mapping[str, float] | None = None,
                      natural: Mapping[str, float] | None = None, kl_penalty: float = 0.0,
                      n_params: float | None = None, n_tokens: float | None = None):
    """The optimization problem over the components: each within its bound from the per-domain ``caps``, the prior
    ``natural`` reduced to the components (for ``kl_penalty``), predicted at ``(n_params, n_tokens)``."""
    from mixtures.optimize.problem import make_problem

    bounds = {c: (0.0, min(1.0, cap)) for c, cap in plan.component_caps(caps).items()} if caps else None
    prior = plan.reduce(natural) if natural else None
    return make_problem(law, dict(objective), bounds=bounds, natural=prior, kl_penalty=kl_penalty,
                        n_params=n_params, tokens=n_tokens)


__all__ = ["ReuseResult", "reoptimize", "component_problem", "VIRTUAL"]
