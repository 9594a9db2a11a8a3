"""How well the optimum is determined: re-optimize under each law member, and measure how flat
the objective is around the optimum."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from mixtures.optimize.law import LawLike, MemberLaw
from mixtures.optimize.problem import Problem
from mixtures.optimize.result import OptimizationResult
from mixtures.optimize.random_search import dirichlet_draws
from mixtures.optimize.solvers import solve


@dataclass
class Uncertainty:
    """Spread of the optimum.

    ``member_weights``: one row per member's optimum (``w_<domain>``, ``objective``);
    ``weight_std``: per-domain standard deviation of those optima; ``objective_mean`` /
    ``objective_std``: the members' predicted objective at the chosen mixture;
    ``optimum_objective_std``: spread of the members' own optimal objectives; ``near_optimal_spread``: the largest
    per-domain weight range among mixtures predicted within the noise of the optimum.
    """

    member_weights: pd.DataFrame
    weight_std: dict[str, float]
    objective_mean: float
    objective_std: float
    optimum_objective_std: float
    near_optimal_spread: float
    well_determined: bool
    message: str

    def to_dict(self) -> dict:
        return {
            "weight_std": self.weight_std, "objective_mean": self.objective_mean,
            "objective_std": self.objective_std, "optimum_objective_std": self.optimum_objective_std,
            "near_optimal_spread": self.near_optimal_spread,
            "well_determined": self.well_determined, "message": self.message,
            "members": len(self.member_weights),
        }


def optimum_uncertainty(problem: Problem, law: LawLike, result: OptimizationResult, solver: str = "slsqp",
                        seed: int = 0, weight_tolerance: float = 0.05, relative_tolerance: float = 1e-3,
                        samples: int = 2000, **options) -> Uncertainty:
    """Re-optimize under every member of ``law.predict_members`` and probe the objective's flatness.

    The optimum is *not well determined* when the members' optima differ by more than
    ``weight_tolerance`` (standard deviation of some domain's weight), or when mixtures whose
    predicted objective is within the noise of the optimum (the members' objective spread, at least
    ``relative_tolerance`` of it) differ from the optimum by more than ``2 * weight_tolerance``.
    """
    evaluator = problem.evaluator(law)
    chosen = np.array([result.weights[d] for d in problem.domains])
    members = law.predict_members(evaluator.frame(chosen))
    rows = []
    if members is not None:
        for m in range(np.asarray(members).shape[0]):
            member = solve(problem, MemberLaw(law, m), solver=solver, seed=seed, **options)
            rows.append({**{f"w_{d}": member.weights[d] for d in problem.domains}, "objective": member.objective})
    table = pd.DataFrame(rows, columns=[*(f"w_{d}" for d in problem.domains), "objective"])
    if members is not None:
        member_objectives = np.array([
            float(problem.evaluator(MemberLaw(law, m))(chosen[None, :]).sum()) for m in range(len(table))])
        objective_mean, objective_std = float(member_objectives.mean()), float(member_objectives.std(ddof=0))
    else:
        objective_mean, objective_std = result.objective, 0.0
    weight_std = {d: float(table[f"w_{d}"].std(ddof=0)) if len(table) else 0.0 for d in problem.domains}

    draws = dirichlet_draws(problem, samples, np.random.default_rng(seed), strength=(0.3, 30.0))
    values = evaluator(draws).sum(axis=1)
    noise = max(objective_std, relative_tolerance * abs(result.objective), 1e-12)
    near = draws[values <= result.objective + noise]
    spread = float(np.abs(near - chosen).max()) if len(near) else 0.0

    reasons = []
    worst = max(weight_std, key=weight_std.get) if weight_std else None
    if worst is not None and weight_std[worst] > weight_tolerance:
        reasons.append(f"the {len(table)} member optima disagree ({worst} weight sd {weight_std[worst]:.3f})")
    if spread > 2 * weight_tolerance:
        reasons.append(f"mixtures up to {spread:.2f} away in some weight are predicted within {noise:.3g} "
                       "of the optimum (the objective is flat there)")
    well = not reasons
    if well:
        members_note = (f"member optima sd <= {max(weight_std.values(), default=0):.3f}, " if len(table)
                        else "(the law has no bootstrap/ensemble members: only flatness was checked) ")
        message = f"The optimum is well determined: {members_note}near-optimal mixtures stay within {spread:.3f} of it."
    else:
        message = "The optimum is NOT well determined: " + "; ".join(reasons) + \
            ". Treat the weights as one of many equally good choices; more proxy runs would narrow it."
    optimum_std = float(table["objective"].std(ddof=0)) if len(table) else 0.0
    return Uncertainty(table, weight_std, objective_mean, objective_std, optimum_std, spread, well, message)

