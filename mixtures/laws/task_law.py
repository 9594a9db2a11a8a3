"""A fitted law with task accuracies beside its losses: :class:`TaskLaw`.

It predicts every target of a law of losses (``loss_<x>``, a :class:`~mixtures.laws.MixtureLaw`) and, for each
task, ``acc_<task>`` through that task's :class:`~mixtures.laws.two_step.TwoStepLaw` (step 1's task loss, then
the fitted sigmoid), so an objective that weights a task accuracy (:mod:`mixtures.objective`, maximised) is
optimised by every solver like one of losses, and the verdict reads the same prediction.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from mixtures.errors import MixturesError
from mixtures.laws.mixture_law import MixtureLaw
from mixtures.laws.two_step import TwoStepLaw
from mixtures.tasks import acc_column


class TaskLaw:
    """``law``'s targets and ``acc_<task>`` for every task of ``tasks`` (``{task: TwoStepLaw}``)."""

    def __init__(self, law: MixtureLaw, tasks: Mapping[str, TwoStepLaw]):
        self.law = law
        self.tasks = dict(tasks)
        for name, task in self.tasks.items():
            if list(task.loss_law.domains) != list(law.domains):
                raise MixturesError(f"task {name!r}: its two-step law is over the domains {task.loss_law.domains}, "
                                    f"the law of losses over {law.domains}; fit both on the same run table.")

    @property
    def domains(self) -> list[str]:
        return list(self.law.domains)

    @property
    def targets(self) -> list[str]:
        return [*self.law.targets, *(acc_column(t) for t in self.tasks)]

    @property
    def uses_scale(self) -> bool:
        return bool(self.law.uses_scale or any(t.loss_law.uses_scale for t in self.tasks.values()))

    @property
    def families(self) -> dict[str, str]:
        """The law's family per target; ``two_step(<step 1's family>)`` per task accuracy."""
        steps = {acc_column(n): f"two_step({next(iter(t.loss_law.families.values()))})" for n, t in self.tasks.items()}
        return {**self.law.families, **steps}

    def predict(self, frame: pd.DataFrame, source: str = "table") -> pd.DataFrame:
        """The law's predicted losses and each task's predicted accuracy, indexed like ``frame``."""
        out = self.law.predict(frame, source)
        for name, task in self.tasks.items():
            out[acc_column(name)] = task.predict_accuracy(frame)
        return out

    def predict_tasks(self, frame: pd.DataFrame, level: float = 0.9) -> pd.DataFrame:
        """Every task's :meth:`TwoStepLaw.predict` (task loss, accuracy and its ``level`` interval) side by side."""
        return pd.concat([task.predict(frame, level) for task in self.tasks.values()], axis=1)

    def predict_members(self, frame: pd.DataFrame, source: str = "table") -> np.ndarray | None:
        """``(members, rows, targets)``: the law's bootstrap members and, per task, as many two-step members
        (:meth:`TwoStepLaw.predict_accuracy_members`); None when the law has none."""
        members = self.law.predict_members(frame, source)
        if members is None:
            return None
        members = np.asarray(members, dtype=np.float64)
        accuracies = [task.predict_accuracy_members(frame, len(members))[..., None] for task in self.tasks.values()]
        return np.concatenate([members, *accuracies], axis=-1)

    def evaluation_rows(self, frame: pd.DataFrame) -> pd.DataFrame:
        return self.law.evaluation_rows(frame)

    def save(self, path: str | Path) -> None:
        """The law of losses, as ``law.json`` (the two-step laws are refitted from the run table, not saved)."""
        self.law.save(path)
