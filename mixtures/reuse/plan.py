"""Mixture reuse (Olmix's): keep the unaffected domains' relative weights, as one virtual domain, and search
only over the virtual domain plus the changed ones.

The **components** of a reuse are ``virtual`` (the unchanged domains, in the previous optimum's ratios) and
each added or revised domain. A mixture over the components expands back to every domain
(:meth:`ReusePlan.expand`). A removed domain needs no component: dropping it only renormalises the others.

**Swarm size** (the rule): ``max(4, 2 * k)`` mixtures for ``k`` components, i.e. two per component of the
reduced simplex and never fewer than the four distinct mixtures a law is fitted on. The swarm is the
previous optimum (virtual alone), the components' uniform mixture, then Dirichlet(1) draws over the
components, kept farthest apart (max-min distance, :func:`mixtures.design.max_min_select`) among those
within every domain's epoch cap.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mixtures.design import max_min_select
from mixtures.errors import InfeasibleError
from mixtures.reuse.change import CorpusChange
from mixtures.runs_table import weight_column

VIRTUAL = "virtual"
MIN_SWARM = 4  # the fewest distinct mixtures a law is fitted on (mixtures.laws.estimator.MIN_MIXTURES)
CANDIDATES_PER_MIXTURE = 50
DECIMALS = 6


def swarm_size(components: int) -> int:
    """The number of new mixtures a reuse trains: ``max(4, 2 * components)`` (0 with nothing to search)."""
    return 0 if components <= 1 else max(MIN_SWARM, 2 * components)


@dataclass(frozen=True)
class ReusePlan:
    """How a previous optimum is reused after ``change``.

    ``frozen``: the unchanged domains' weights in the previous optimum, renormalised to sum to 1 (the
    virtual domain's content); ``components``: ``virtual`` (when ``frozen`` has weight) and the changed
    domains; ``domains``: every current training domain, in order.
    """

    change: CorpusChange
    frozen: dict[str, float]
    components: tuple[str, ...]
    domains: tuple[str, ...]

    @property
    def needs_runs(self) -> bool:
        """False when only domains were removed: the previous ratios, renormalised, are the answer."""
        return len(self.components) > 1

    @property
    def swarm_size(self) -> int:
        return swarm_size(len(self.components))

    def expand(self, weights: Mapping[str, float]) -> dict[str, float]:
        """Component weights -> weights of every current domain (``virtual`` spread in the frozen ratios)."""
        unknown = sorted(set(weights) - set(self.components))
        if unknown:
            raise InfeasibleError(f"reuse: {unknown} are not components of this reuse {list(self.components)}.")
        out = {d: 0.0 for d in self.domains}
        virtual = float(weights.get(VIRTUAL, 0.0))
        for d, share in self.frozen.items():
            out[d] += virtual * share
        for d in self.components:
            if d != VIRTUAL:
                out[d] += float(weights.get(d, 0.0))
        total = sum(out.values())
        return {d: w / total for d, w in out.items()}

    def reduce(self, weights: Mapping[str, float]) -> dict[str, float]:
        """Domain weights -> component weights (the frozen domains' weights summed into ``virtual``)."""
        out = {c: 0.0 for c in self.components}
        for d, w in weights.items():
            if d in self.frozen and VIRTUAL in out:
                out[VIRTUAL] += float(w)
            elif d in out:
                out[d] += float(w)
        return out

    def component_table(self, runs: pd.DataFrame) -> pd.DataFrame:
        """A run table over the components: ``w_virtual`` the sum of the frozen domains' columns, the changed
        domains' columns as they are, every other column kept (the frozen domains' own columns dropped)."""
        out = runs.drop(columns=[weight_column(d) for d in self.domains if weight_column(d) in runs.columns])
        columns = {c: np.zeros(len(runs)) for c in self.components}
        for d in self.domains:
            col = weight_column(d)
            if col not in runs.columns:
                continue
            target = VIRTUAL if d in self.frozen and VIRTUAL in columns else d
            if target in columns:
                columns[target] = columns[target] + runs[col].to_numpy(dtype=np.float64)
        weights = pd.DataFrame({weight_column(c): v for c, v in columns.items()}, index=runs.index)
        return pd.concat([weights, out], axis=1)

    def component_caps(self, caps: Mapping[str, float]) -> dict[str, float]:
        """Per-component upper bounds from per-domain ones (``virtual`` at most ``min(cap_d / share_d)``)."""
        out = {}
        for c in self.components:
            if c == VIRTUAL:
                out[c] = min([1.0] + [caps[d] / s for d, s in self.frozen.items() if s > 0])
            else:
                out[c] = min(1.0, float(caps[c]))
        return out

    def to_dict(self) -> dict:
        return {"change": self.change.to_dict(), "frozen": self.frozen, "components": list(self.components),
                "domains": list(self.domains), "swarm_size": self.swarm_size}

    @classmethod
    def from_dict(cls, data: dict) -> ReusePlan:
        change = CorpusChange(**{k: tuple(v) for k, v in data["change"].items()})
        return cls(change, {d: float(w) for d, w in data["frozen"].items()}, tuple(data["components"]),
                   tuple(data["domains"]))

    def message(self) -> str:
        kept = ", ".join(f"{d} {w:.2f}" for d, w in self.frozen.items())
        if not self.needs_runs:
            return f"reuse ({self.change.message()}): no new runs, the previous ratios renormalised ({kept})"
        return (f"reuse ({self.change.message()}): {self.swarm_size} new mixtures over {list(self.components)}; "
                f"virtual = {kept}")


def plan_reuse(previous_optimum: Mapping[str, float], change: CorpusChange, domains: list[str]) -> ReusePlan:
    """The :class:`ReusePlan` of ``previous_optimum`` (its domain weights) over the current ``domains``.

    Raises :class:`InfeasibleError` when the previous optimum cannot be reused: the target sets changed (the
    objective is another one), or the unchanged domains had no weight in it and nothing changed to search.
    """
    if change.targets_changed:
        raise InfeasibleError(f"reuse: the target set(s) {list(change.targets_changed)} changed, so the previous "
                              "optimum answers another objective; recompute the mixture (reuse: never).")
    kept = {d: float(previous_optimum.get(d, 0.0)) for d in change.unchanged}
    total = sum(kept.values())
    frozen = {d: w / total for d, w in kept.items() if w > 0} if total > 0 else {}
    components = ((VIRTUAL,) if frozen else ()) + tuple(d for d in change.changed if d in domains)
    if not components:
        raise InfeasibleError("reuse: the previous optimum has no weight on any domain that is still there, and "
                              "no domain was added or revised; recompute the mixture (reuse: never).")
    return ReusePlan(change, frozen, components, tuple(domains))


def reuse_swarm(plan: ReusePlan, caps: Mapping[str, float], seed: int, min_weight: float = 0.0
                ) -> dict[str, dict[str, float]]:
    """The new mixtures of a reuse, over the components: ``reuse-virtual`` (the previous optimum, when there is
    a virtual domain), ``reuse-uniform``, then ``reuse-000``...; ``plan.swarm_size`` in all, each within the
    per-domain ``caps`` (weight upper bounds, e.g. from the epoch limit) once expanded. Seeded by ``seed``."""
    k = len(plan.components)
    size = plan.swarm_size
    if size == 0:
        return {}
    upper = np.array([plan.component_caps(caps)[c] for c in plan.components])
    if upper.sum() < 1.0:
        raise InfeasibleError(f"reuse: the epoch caps allow at most {dict(zip(plan.components, upper.round(3)))} "
                              "of the components, which cannot sum to 1; lower the proxy tokens or add data.")
    fixed: dict[str, np.ndarray] = {}
    if VIRTUAL in plan.components and upper[plan.components.index(VIRTUAL)] >= 1.0:
        fixed["reuse-virtual"] = np.eye(k)[plan.components.index(VIRTUAL)]
    uniform = np.full(k, 1.0 / k)
    if np.all(uniform <= upper + 1e-12):
        fixed["reuse-uniform"] = uniform
    rng = np.random.default_rng([int(seed), 0x52455553])  # "REUS": the swarm's own stream
    wanted = size - len(fixed)
    candidates, draws = [], 0
    while len(candidates) < wanted * CANDIDATES_PER_MIXTURE and draws < 1000 * wanted * CANDIDATES_PER_MIXTURE:
        draws += 1
        sample = rng.dirichlet(np.ones(k))
        sample = np.where(sample < min_weight, 0.0, sample)
        if sample.sum() <= 0:
            continue
        sample = np.round(sample / sample.sum(), DECIMALS)
        if np.all(sample <= upper + 1e-9):
            candidates.append(sample)
    if len(candidates) < wanted:
        raise InfeasibleError(f"reuse: only {len(candidates)} of {wanted} swarm mixtures fit the epoch caps "
                              f"{dict(zip(plan.components, upper.round(3)))}; lower the proxy tokens or add data.")
    anchors = np.array(list(fixed.values())) if fixed else np.zeros((1, k))
    picked = max_min_select(np.array(candidates), anchors, wanted)
    chosen = {**fixed, **{f"reuse-{i:03d}": v for i, v in enumerate(picked)}}
    return {name: {c: float(v) for c, v in zip(plan.components, vec, strict=True)} for name, vec in chosen.items()}


def caps_from_tokens(train_tokens: Mapping[str, float], budget: float, max_epochs: float) -> dict[str, float]:
    """Per-domain weight caps so that no domain repeats more than ``max_epochs`` times in ``budget`` tokens."""
    return {d: (max_epochs * float(t) / budget if budget > 0 else math.inf) for d, t in train_tokens.items()}
