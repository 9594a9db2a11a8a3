"""The optimization problem: objectives over a law's targets and the feasible set of mixtures.

Feasibility is checked when the problem is made, before any solver runs; an infeasible set
raises :class:`~mixtures.errors.InfeasibleError` naming the constraints that conflict.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mixtures.config import check_bounds
from mixtures.errors import ConfigError, InfeasibleError
from mixtures.objective import objective_weights
from mixtures.optimize.law import Evaluator, LawLike
from mixtures.optimize.simplex import (
    closest_to_natural,
    enforce_kl,
    kl_gradient,
    kl_to_natural,
    project_box_simplex,
)
from mixtures.tasks import ACC_PREFIX


def _fmt_tokens(value: float) -> str:
    for unit, scale in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:.3g}{unit}"
    return f"{value:.3g}"


@dataclass(frozen=True)
class KLPenalty:
    """``scale * KL(w || natural)`` per row of weights, and its gradient."""

    natural: np.ndarray
    scale: float

    def __call__(self, weights: np.ndarray) -> np.ndarray:
        return self.scale * kl_to_natural(weights, self.natural)

    def gradient(self, weights: np.ndarray) -> np.ndarray:
        return self.scale * kl_gradient(weights, self.natural)


@dataclass
class Problem:
    """Minimize each objective group over ``{sum w = 1, lower <= w <= upper, KL(w||natural) <= kl_max}``.

    ``objectives`` maps a group name to ``{loss column: weight}``; one group is a
    single-objective problem, several make a Pareto front. ``why_lower`` / ``why_upper`` say
    which constraint set each bound (used in messages). ``kl_penalty`` adds
    ``kl_penalty * KL(w || natural)`` to every objective.
    """

    domains: list[str]
    objectives: dict[str, dict[str, float]]
    lower: np.ndarray
    upper: np.ndarray
    natural: np.ndarray | None = None
    kl_max: float | None = None
    kl_penalty: float = 0.0
    n_params: float | None = None
    n_tokens: float | None = None
    why_lower: list[str] = field(default_factory=list)
    why_upper: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.lower = np.asarray(self.lower, dtype=np.float64)
        self.upper = np.asarray(self.upper, dtype=np.float64)
        if self.natural is not None:
            self.natural = np.asarray(self.natural, dtype=np.float64)
        self.check_feasible()
        self.anchor = self._anchor()

    # -- feasibility ------------------------------------------------------------------------
    def check_feasible(self) -> None:
        """Raise :class:`InfeasibleError` naming the conflicting constraints."""
        d = self.domains
        crossed = [i for i in range(len(d)) if self.lower[i] > self.upper[i]]
        if crossed:
            parts = [f"{d[i]}: {self.why_lower[i]} > {self.why_upper[i]}" for i in crossed]
            raise InfeasibleError("infeasible constraints: per-domain minimum above maximum (" + "; ".join(parts) + ")")
        if self.upper.sum() < 1.0 - 1e-12:
            capped = [self.why_upper[i] for i in range(len(d)) if self.upper[i] < 1.0]
            raise InfeasibleError(
                f"infeasible constraints: the sum of per-domain maxima ({', '.join(capped)}) is "
                f"{self.upper.sum():.4g} < 1; raise a bound, allow more epochs, lower the token budget or add data."
            )
        if self.lower.sum() > 1.0 + 1e-12:
            floored = [self.why_lower[i] for i in range(len(d)) if self.lower[i] > 0]
            raise InfeasibleError(
                f"infeasible constraints: the sum of per-domain minima ({', '.join(floored)}) is "
                f"{self.lower.sum():.4g} > 1; lower some minimum."
            )
        if self.kl_max is not None or self.kl_penalty:
            if self.natural is None:
                raise ConfigError("a KL constraint or penalty needs the natural mixture; give the catalog.")
        if self.kl_max is not None:
            best = closest_to_natural(self.natural, self.lower, self.upper)
            least = float(kl_to_natural(best, self.natural)[0])
            if not least <= self.kl_max:
                active = [self.why_lower[i] if best[i] <= self.lower[i] else self.why_upper[i]
                          for i in range(len(d))
                          if (best[i] <= self.lower[i] and self.lower[i] > 0)
                          or (best[i] >= self.upper[i] and self.upper[i] < 1)]
                raise InfeasibleError(
                    f"infeasible constraints: KL(w || natural) <= {self.kl_max:g} conflicts with the bounds "
                    f"({'; '.join(active) or 'natural shares outside the box'}): the closest feasible mixture "
                    f"has KL {least:.4g}; raise constraints.kl_to_natural_max or relax those bounds."
                )

    def _anchor(self) -> np.ndarray:
        """A strictly feasible reference point: closest to natural when known, else the projected centre."""
        if self.natural is not None:
            return closest_to_natural(self.natural, self.lower, self.upper)
        centre = np.full(len(self.domains), 1.0 / len(self.domains))
        return project_box_simplex(centre, self.lower, self.upper)[0]

    def to_dict(self) -> dict:
        """The problem as JSON-ready data (objectives, bounds with their reasons, KL, scale)."""
        return {
            "domains": self.domains,
            "objectives": self.objectives,
            "bounds": {d: {"min": float(self.lower[i]), "max": float(self.upper[i]),
                           "min_by": self.why_lower[i], "max_by": self.why_upper[i]}
                       for i, d in enumerate(self.domains)},
            "natural": None if self.natural is None else self.mixture(self.natural),
            "kl_max": self.kl_max, "kl_penalty": self.kl_penalty,
            "n_params": self.n_params, "n_tokens": self.n_tokens,
        }

    # -- repair ------------------------------------------------------------------------------
    def feasible(self, points: np.ndarray) -> np.ndarray:
        """Rows repaired to satisfy every constraint exactly (sum 1 to rounding, bounds exactly)."""
        out = project_box_simplex(points, self.lower, self.upper)
        if self.kl_max is not None:
            out = enforce_kl(out, self.natural, self.kl_max, self.anchor, self.lower, self.upper)
        return out

    def violations(self, weights: np.ndarray) -> list[str]:
        """Constraint violations of one mixture (empty when feasible)."""
        w = np.asarray(weights, dtype=np.float64)
        found = []
        if abs(w.sum() - 1.0) > 1e-9:
            found.append(f"sum is {w.sum():.12g}")
        for i, name in enumerate(self.domains):
            if w[i] < self.lower[i]:
                found.append(f"{name}={w[i]:.6g} < {self.why_lower[i]}")
            if w[i] > self.upper[i]:
                found.append(f"{name}={w[i]:.6g} > {self.why_upper[i]}")
        if self.kl_max is not None:
            kl = float(kl_to_natural(w, self.natural)[0])
            if kl > self.kl_max:
                found.append(f"KL {kl:.6g} > {self.kl_max:g}")
        return found

    # -- objectives -------------------------------------------------------------------------
    @property
    def multi(self) -> bool:
        return len(self.objectives) > 1

    def penalty(self) -> KLPenalty | None:
        return KLPenalty(self.natural, float(self.kl_penalty)) if self.kl_penalty else None

    def evaluator(self, law: LawLike) -> Evaluator:
        """A counted evaluator of this problem's objectives under ``law``."""
        return Evaluator(law, self.domains, self.objectives, self.n_params, self.n_tokens, self.penalty())

    def mixture(self, weights: np.ndarray) -> dict[str, float]:
        return {d: float(v) for d, v in zip(self.domains, weights, strict=True)}


def make_problem(
    law: LawLike,
    objective: Mapping[str, float] | Mapping[str, Mapping[str, float]] | None = None,
    *,
    bounds: Mapping[str, tuple[float, float]] | None = None,
    available_tokens: Mapping[str, float] | None = None,
    max_epochs: float = 4.0,
    max_epochs_per_domain: Mapping[str, float] | None = None,
    tokens: float | None = None,
    natural: Mapping[str, float] | None = None,
    kl_max: float | None = None,
    kl_penalty: float = 0.0,
    n_params: float | None = None,
) -> Problem:
    """A :class:`Problem` over ``law.domains``.

    Parameters
    ----------
    objective
        ``{loss column: weight}`` (one objective) or ``{group: {loss column: weight}}`` (Pareto);
        default: every law target, equally weighted. Each group's weights are normalised to sum to 1.
    bounds
        ``{domain: (min, max)}``.
    available_tokens, max_epochs, max_epochs_per_domain, tokens
        Data availability at the final budget ``tokens`` (D_target): ``w_i <= epochs_i * available_i / tokens``.
    natural
        The natural mixture (needed by ``kl_max`` / ``kl_penalty``).
    n_params
        Model size of the final run, for laws that use scale (``tokens`` is its budget).
    """
    domains = list(law.domains)
    groups = _objective_groups(law, objective)
    if law.uses_scale and (n_params is None or tokens is None):
        raise ConfigError(
            "the law depends on model size and tokens: give the final scale (n_params and tokens, "
            "e.g. --params and --tokens)."
        )
    lower = np.zeros(len(domains))
    upper = np.ones(len(domains))
    why_lower = [f"{d}>=0" for d in domains]
    why_upper = [f"{d}<=1" for d in domains]
    check_bounds(dict(bounds or {}), domains)
    for name, (lo, hi) in (bounds or {}).items():
        i = domains.index(name)
        lower[i], why_lower[i] = lo, f"{name}>={lo:g} by bounds"
        upper[i], why_upper[i] = hi, f"{name}<={hi:g} by bounds"
    if available_tokens is not None:
        if tokens is None:
            raise ConfigError("data availability needs the final token budget (tokens / --tokens).")
        missing = [d for d in domains if d not in available_tokens]
        if missing:
            raise ConfigError(f"available tokens are missing for domain(s) {missing}")
        per_domain = dict(max_epochs_per_domain or {})
        unknown = [d for d in per_domain if d not in domains]
        if unknown:
            raise ConfigError(f"max_epochs_per_domain names unknown domain(s) {unknown}; the law's domains are {domains}")
        for i, name in enumerate(domains):
            epochs = float(per_domain.get(name, max_epochs))
            cap = epochs * float(available_tokens[name]) / float(tokens)
            if cap < upper[i]:
                upper[i] = cap
                why_upper[i] = (f"{name}<={cap:.4g} by data availability: {epochs:g} epochs x "
                                f"{_fmt_tokens(float(available_tokens[name]))} tokens / {_fmt_tokens(float(tokens))}")
    nat = None
    if natural is not None:
        nat = np.array([float(natural.get(d, 0.0)) for d in domains])
        nat = nat / nat.sum()
    return Problem(
        domains=domains, objectives=groups, lower=lower, upper=upper, natural=nat,
        kl_max=kl_max, kl_penalty=kl_penalty, n_params=n_params if law.uses_scale else None,
        n_tokens=tokens if law.uses_scale else None, why_lower=why_lower, why_upper=why_upper,
    )


def _objective_groups(law: LawLike, objective) -> dict[str, dict[str, float]]:
    if not objective:
        objective = {t: 1.0 / len(law.targets) for t in law.targets}
    values = list(objective.values())
    if all(isinstance(v, Mapping) for v in values):
        groups = {str(k): {c: float(w) for c, w in v.items()} for k, v in objective.items()}
    elif any(isinstance(v, Mapping) for v in values):
        raise ConfigError("objective mixes {loss: weight} entries with named groups; use one form.")
    else:
        groups = {"objective": {c: float(w) for c, w in objective.items()}}
    for name, group in groups.items():
        unknown = [c for c in group if c not in law.targets]
        if unknown:
            hint = ("; a task's accuracy is predicted by its two-step law (mixtures.laws.TaskLaw, fitted by the "
                    "pipeline's mixing_laws; law.json holds the losses only)"
                    if any(c.startswith(ACC_PREFIX) for c in unknown) else "")
            raise ConfigError(f"objective {name!r}: the law does not predict {unknown}; it predicts {law.targets}{hint}")
        bad = [c for c, w in group.items() if not (math.isfinite(w) and w >= 0)]
        if bad or not any(w > 0 for w in group.values()):
            raise ConfigError(f"objective {name!r}: weights must be >= 0 with at least one > 0 (got {group})")
    # each group's weights normalised, as in mixtures.objective: an objective is a weighted mean of losses
    return {name: {c: w / sum(group.values()) for c, w in group.items()} for name, group in groups.items()}


def build_problem(config, law: LawLike, catalog: pd.DataFrame | None, targets=None, tokens: float | None = None,
                  n_params: float | None = None) -> Problem:
    """The problem a :class:`~mixtures.config.ProjectConfig` describes.

    Natural = train-token shares of the training domains in ``catalog``; data availability uses
    each domain's ``train_tokens``. ``targets`` overrides the objective (``{loss: weight}`` or
    groups); default: the project's objective, :func:`mixtures.objective.objective_weights` (the
    ``target`` section, or the natural shares of the training domains).
    ``tokens`` (D_target) defaults to ``config.optimize.tokens``, then ``config.dataset.size`` when
    its unit is tokens.
    """
    from mixtures.corpus.catalog import natural_mixture

    natural = available = None
    if catalog is not None:
        train = catalog[catalog["role"] == "train"]
        missing = [d for d in law.domains if d not in set(train["domain"])]
        if missing:
            raise ConfigError(f"the catalog has no training domain(s) {missing} that the law uses")
        natural = {d: v for d, v in natural_mixture(catalog).items() if d in law.domains}
        available = {row.domain: float(row.train_tokens) for row in train.itertuples()}
    if tokens is None:
        tokens = config.optimize.tokens
    if tokens is None and config.dataset.unit == "tokens":
        tokens = config.dataset.size
    if targets is None:
        targets = objective_weights(config, natural)
    c = config.constraints
    return make_problem(
        law, targets, bounds=c.bounds, available_tokens=available if tokens else None,
        max_epochs=c.max_epochs, max_epochs_per_domain=c.max_epochs_per_domain, tokens=tokens,
        natural=natural, kl_max=c.kl_to_natural_max, kl_penalty=config.optimize.kl_penalty, n_params=n_params,
    )
