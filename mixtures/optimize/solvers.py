"""Solvers by name: the registry ``optimize.solver`` and ``mixtures optimize --solver`` choose from.

A solver (the :class:`Solver` protocol; Optuna's samplers are the model) is a frozen dataclass whose
fields are its typed options, with their defaults, and whose ``minimize(problem, law, seed)`` returns an
:class:`OptimizationResult`; ``pareto`` says whether it returns the front of the objective groups
(``result.pareto``) rather than minimizing their sum. :func:`solve` builds a solver by name from
options, checked against its fields (an unknown option or a wrong type is refused, naming the choices),
and runs it. Every solver is seeded and deterministic; outputs satisfy the constraints exactly.

To add a solver, write its dataclass in its own module and add one line to :data:`SOLVERS`.
"""

from __future__ import annotations

import dataclasses
from functools import cache
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from pydantic import TypeAdapter, ValidationError

from mixtures.errors import ConfigError
from mixtures.optimize.optuna_search import CMAES, TPE
from mixtures.optimize.pareto import MOTPE, NSGA2
from mixtures.optimize.random_search import RandomSearch
from mixtures.optimize.slsqp import SLSQP
from mixtures.registry import Registry, did_you_mean

if TYPE_CHECKING:
    from mixtures.optimize.law import LawLike
    from mixtures.optimize.result import OptimizationResult


class Solver(Protocol):
    """A solver's options are its dataclass fields; ``pareto``: it returns the front of the groups."""

    pareto: ClassVar[bool]

    def minimize(self, problem, law: LawLike, seed: int = 0) -> OptimizationResult: ...


SOLVERS: Registry[type[Solver]] = Registry("solver", field="optimize.solver")
SOLVERS.add("slsqp", SLSQP)
SOLVERS.add("tpe", TPE)
SOLVERS.add("cmaes", CMAES)
SOLVERS.add("random", RandomSearch)
SOLVERS.add("nsga2", NSGA2)
SOLVERS.add("motpe", MOTPE)


def describe_options(name: str) -> str:
    """The options of solver ``name`` with their types and defaults, e.g. ``starts: int = 8, ...``."""
    return ", ".join(f"{f.name}: {f.type} = {f.default!r}" for f in dataclasses.fields(SOLVERS.get(name)))


def option_names(name: str) -> list[str]:
    return [f.name for f in dataclasses.fields(SOLVERS.get(name))]


@cache
def _adapter(cls: type) -> TypeAdapter:
    return TypeAdapter(cls)


def make_solver(name: str, **options: Any) -> Solver:
    """Solver ``name`` with ``options`` (checked against its fields: names and types)."""
    cls = SOLVERS.get(name)
    known = option_names(name)
    for key in options:
        if key not in known:
            hint = did_you_mean(key, known) or "."
            raise ConfigError(f"solver {name!r} has no option {key!r}{hint} Its options: {describe_options(name)}.")
    try:
        return _adapter(cls).validate_python(options)
    except ValidationError as exc:
        problems = "; ".join(f"option {'.'.join(str(p) for p in e['loc'])}: {e['msg']} (got {e['input']!r})"
                             for e in exc.errors())
        raise ConfigError(f"solver {name!r}: {problems}. Its options: {describe_options(name)}.") from None


def solve(problem, law: LawLike, solver: str = "slsqp", seed: int = 0, **options: Any) -> OptimizationResult:
    """Minimize the problem's objective with the solver called ``solver`` (its ``options`` as keywords).

    A single-objective solver minimizes the sum of the objective groups; a Pareto solver (``nsga2``,
    ``motpe``) returns their front as ``result.pareto``.
    """
    return make_solver(solver, **options).minimize(problem, law, seed=seed)
