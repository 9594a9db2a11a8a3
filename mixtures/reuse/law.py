"""A law fitted over a reuse's components, speaking for every domain: :class:`ReusedLaw`.

It predicts a table of domain weights by summing the frozen domains into ``w_virtual``
(:meth:`~mixtures.reuse.plan.ReusePlan.component_table`), so the validation and the report use it like any law.
A mixture whose frozen domains are not in the frozen ratios (natural, uniform) is predicted as if they were:
the law knows only their total.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from mixtures.laws.mixture_law import MixtureLaw
from mixtures.reuse.plan import ReusePlan


@dataclass
class ReusedLaw:
    """``law`` (a :class:`MixtureLaw`, or a :class:`~mixtures.laws.TaskLaw` over one) over ``plan.components``,
    predicting rows of ``plan.domains`` weights."""

    plan: ReusePlan
    law: MixtureLaw

    @property
    def domains(self) -> list[str]:
        return list(self.plan.domains)

    @property
    def targets(self) -> list[str]:
        return self.law.targets

    @property
    def uses_scale(self) -> bool:
        return self.law.uses_scale

    @property
    def families(self) -> dict[str, str]:
        return self.law.families

    def predict(self, frame: pd.DataFrame, source: str = "table") -> pd.DataFrame:
        return self.law.predict(self.plan.component_table(frame), source)

    def predict_members(self, frame: pd.DataFrame, source: str = "table"):
        return self.law.predict_members(self.plan.component_table(frame), source)

    def predict_tasks(self, frame: pd.DataFrame, level: float = 0.9) -> pd.DataFrame:
        """The task accuracies of a :class:`~mixtures.laws.TaskLaw` (with their intervals)."""
        return self.law.predict_tasks(self.plan.component_table(frame), level)

    def evaluation_rows(self, frame: pd.DataFrame) -> pd.DataFrame:
        return self.law.evaluation_rows(frame)

    def save(self, path: str | Path) -> None:
        """The component law, as ``law.json`` (its domains are the components)."""
        self.law.save(path)
