"""What the optimizer needs from a fitted law, and a counted, batched evaluator over it."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
import pandas as pd

from mixtures.errors import MixturesError
from mixtures.objective import sign_of


@runtime_checkable
class LawLike(Protocol):
    """The part of :class:`mixtures.laws.MixtureLaw` the optimizer relies on.

    A law may also give ``gradient(frame)``: d(predicted loss) / d(weights), ``(rows, targets, domains)`` in
    ``targets`` and ``domains`` order, or None where it has none; the optimizer then differentiates the
    objective exactly (:meth:`Evaluator.gradient`) instead of by finite differences.
    """

    domains: list[str]
    targets: list[str]
    uses_scale: bool

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Predicted ``loss_<x>`` (and, for a :class:`~mixtures.laws.TaskLaw`, ``acc_<task>``) columns for rows
        of ``w_<domain>`` (+ ``n_params``, ``n_tokens``)."""

    def predict_members(self, frame: pd.DataFrame) -> np.ndarray | None:
        """``(members, rows, targets)`` predictions of bootstrap refits / ensemble members, or None."""


def law_frame(law: LawLike, weights: np.ndarray, n_params: float | None, n_tokens: float | None) -> pd.DataFrame:
    """The input frame of ``law.predict`` for rows of weights (in the order of ``law.domains``)."""
    weights = np.atleast_2d(np.asarray(weights, dtype=np.float64))
    frame = pd.DataFrame(weights, columns=[f"w_{d}" for d in law.domains])
    if law.uses_scale:
        frame["n_params"] = float(n_params)
        frame["n_tokens"] = float(n_tokens)
    return frame


class MemberLaw:
    """One bootstrap / ensemble member of a law, as a law of its own."""

    def __init__(self, law: LawLike, member: int):
        self.law = law
        self.member = member
        self.domains = list(law.domains)
        self.targets = list(law.targets)
        self.uses_scale = bool(law.uses_scale)

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        members = self.law.predict_members(frame)
        return pd.DataFrame(np.asarray(members)[self.member], columns=self.targets, index=frame.index)

    def predict_members(self, frame: pd.DataFrame) -> None:
        return None


class Evaluator:
    """Objective values of many mixtures in one ``predict`` call, counting rows predicted.

    ``groups`` maps an objective name to ``{loss column: weight}``; ``__call__`` returns an
    array ``(rows, groups)``, each group's value :func:`mixtures.objective.objective_of` of the
    predictions (an ``acc_<task>`` column counts with a minus sign: maximised). ``penalty(w)`` (e.g. a
    KL term) is added to every group; its ``penalty.gradient(w)`` enters :meth:`gradient`.
    ``evaluations`` counts the rows predicted or differentiated.
    """

    def __init__(self, law: LawLike, domains: list[str], groups: dict[str, dict[str, float]],
                 n_params: float | None = None, n_tokens: float | None = None, penalty=None):
        self.law = law
        self.domains = list(domains)
        self.groups = groups
        self.n_params = n_params
        self.n_tokens = n_tokens
        self.penalty = penalty
        self.evaluations = 0
        self.calls = 0
        order = [self.domains.index(d) for d in law.domains]
        self._order = np.array(order, dtype=int)
        columns = sorted({c for g in groups.values() for c in g})
        self.columns = columns
        self._matrix = np.array([[sign_of(c) * g.get(c, 0.0) for g in groups.values()] for c in columns],
                                dtype=np.float64)

    def frame(self, weights: np.ndarray) -> pd.DataFrame:
        """The law's input frame for rows of weights in the problem's domain order (not counted)."""
        weights = np.atleast_2d(np.asarray(weights, dtype=np.float64))
        return law_frame(self.law, weights[:, self._order], self.n_params, self.n_tokens)

    def _losses(self, weights: np.ndarray) -> np.ndarray:
        """Predicted losses ``(rows, columns)`` as an array, counted and checked finite."""
        frame = self.frame(weights)
        self.evaluations += len(frame)
        self.calls += 1
        predicted = self.law.predict(frame)
        index = predicted.columns.get_indexer(self.columns)
        if np.any(index < 0):
            missing = [c for c, i in zip(self.columns, index, strict=True) if i < 0]
            raise MixturesError(f"the law's predictions lack column(s) {missing}; it returned {list(predicted.columns)}")
        values = predicted.to_numpy(dtype=np.float64)[:, index]
        if not np.all(np.isfinite(values)):
            row, col = np.argwhere(~np.isfinite(values))[0]
            mixture = {d: round(float(frame.iloc[row][f"w_{d}"]), 6) for d in self.law.domains}
            raise MixturesError(
                f"the law predicts {values[row, col]} for {self.columns[col]} at mixture {mixture}; "
                "a law must give finite losses on the whole simplex: refit it or choose another family."
            )
        return values

    def predict(self, weights: np.ndarray) -> pd.DataFrame:
        """Predicted target losses (columns = every target the objectives use)."""
        return pd.DataFrame(self._losses(weights), columns=self.columns)

    def _objectives(self, weights: np.ndarray, losses: np.ndarray) -> np.ndarray:
        values = losses @ self._matrix
        if self.penalty is not None:
            values = values + self.penalty(weights)[:, None]
        return values

    def evaluate(self, weights: np.ndarray) -> tuple[pd.DataFrame, np.ndarray]:
        """Predicted target losses and the ``(rows, groups)`` objective values (penalty included)."""
        weights = np.atleast_2d(np.asarray(weights, dtype=np.float64))
        losses = self._losses(weights)
        return pd.DataFrame(losses, columns=self.columns), self._objectives(weights, losses)

    def __call__(self, weights: np.ndarray) -> np.ndarray:
        """Objective values ``(rows, groups)`` (penalty included)."""
        weights = np.atleast_2d(np.asarray(weights, dtype=np.float64))
        return self._objectives(weights, self._losses(weights))

    def gradient(self, weights: np.ndarray) -> np.ndarray | None:
        """d(objective) / d(weights), ``(rows, groups, domains)`` in the problem's domain order, from the law's
        analytic gradient (penalty included, counted); None when the law has none."""
        weights = np.atleast_2d(np.asarray(weights, dtype=np.float64))
        law_gradient = getattr(self.law, "gradient", None)
        if law_gradient is None:
            return None
        frame = self.frame(weights)
        per_target = law_gradient(frame)
        if per_target is None:
            return None
        self.evaluations += len(frame)
        self.calls += 1
        index = [self.law.targets.index(c) for c in self.columns]
        per_target = np.asarray(per_target, dtype=np.float64)[:, index, :]
        if not np.all(np.isfinite(per_target)):
            row = int(np.argwhere(~np.isfinite(per_target))[0][0])
            mixture = {d: round(float(frame.iloc[row][f"w_{d}"]), 6) for d in self.law.domains}
            raise MixturesError(f"the law's gradient is not finite at mixture {mixture}; use finite differences "
                                "(optimize.options gradient: finite) or choose another family.")
        grad = np.empty((len(weights), len(self.groups), len(self.domains)))
        grad[:, :, self._order] = np.einsum("rcd,cg->rgd", per_target, self._matrix)
        if self.penalty is not None:
            grad += self.penalty.gradient(weights)[:, None, :]
        return grad
