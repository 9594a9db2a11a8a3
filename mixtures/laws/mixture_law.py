"""A fitted multi-target law: one model (a family, or an ensemble of families) per target.

:class:`MixtureLaw` is what :class:`~mixtures.laws.estimator.MixtureLawRegressor` learns (its ``law_``):
the saved form (``law.json``, format ``mixtures.law/1``) and what the optimizer predicts with.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from mixtures.errors import MixturesError, TableError
from mixtures.laws import families as fam
from mixtures.laws.data import ScaleRule, features

FORMAT = "mixtures.law/1"


@dataclass
class TargetModel:
    """The law of one target: the mean of ``members`` (one member unless an ensemble), and
    optional bootstrap refits of the same, for prediction intervals."""

    family: str
    members: list[tuple[str, BaseEstimator]]
    bootstrap: list[list[tuple[str, BaseEstimator]]] = field(default_factory=list)

    @property
    def uses_scale(self) -> bool:
        return any(fam.uses_scale(f) for f, _ in self.members)

    @staticmethod
    def _mean(members, X_plain, X_scale) -> np.ndarray:
        preds = [est.predict(X_scale if fam.uses_scale(f) else X_plain) for f, est in members]
        return np.mean(preds, axis=0)

    def predict(self, X_plain, X_scale) -> np.ndarray:
        return self._mean(self.members, X_plain, X_scale)

    @property
    def has_gradient(self) -> bool:
        """Whether every member's family gives ``gradient`` (see :mod:`mixtures.laws.families`)."""
        return all(callable(getattr(est, "gradient", None)) for _, est in self.members)

    def gradient(self, X_plain, X_scale) -> np.ndarray:
        """d(prediction) / d(weights), ``(rows, weights)``: the mean of the members' ``gradient``."""
        grads = [est.gradient(X_scale if fam.uses_scale(f) else X_plain) for f, est in self.members]
        return np.mean(grads, axis=0)

    def predict_bootstrap(self, X_plain, X_scale) -> np.ndarray:
        return np.stack([self._mean(m, X_plain, X_scale) for m in self.bootstrap])

    def to_dict(self) -> dict:
        return {"family": self.family,
                "members": [fam.to_dict(f, e) for f, e in self.members],
                "bootstrap": [[fam.to_dict(f, e) for f, e in m] for m in self.bootstrap]}

    @classmethod
    def from_dict(cls, data: dict, source: str = "law") -> TargetModel:
        return cls(data["family"], [fam.from_dict(m, source) for m in data["members"]],
                   [[fam.from_dict(m, source) for m in b] for b in data.get("bootstrap", [])])


class MixtureLaw:
    """Predicts every target loss from domain weights (and ``n_params``/``n_tokens`` when
    ``uses_scale``).

    Attributes
    ----------
    domains, targets : list of str
    uses_scale : bool
    families : dict target -> family name (``"ensemble"`` for an average of families)
    scale_rule : :class:`ScaleRule` of the rows non-scale families were fit on
    selection : how ``auto`` chose (metric), or None
    """

    def __init__(self, domains: list[str], targets: list[str], models: dict[str, TargetModel],
                 scale_rule: ScaleRule, selection: dict | None = None):
        self.domains = list(domains)
        self.targets = list(targets)
        self.models = models
        self.scale_rule = scale_rule
        self.selection = selection

    @property
    def uses_scale(self) -> bool:
        return any(m.uses_scale for m in self.models.values())

    @property
    def families(self) -> dict[str, str]:
        return {t: self.models[t].family for t in self.targets}

    def _inputs(self, frame: pd.DataFrame, source: str):
        X_plain = features(frame, self.domains, False, source)
        X_scale = features(frame, self.domains, True, source) if self.uses_scale else None
        return X_plain, X_scale

    def predict(self, frame: pd.DataFrame, source: str = "table") -> pd.DataFrame:
        """Predicted losses, one column per target, indexed like ``frame``."""
        X_plain, X_scale = self._inputs(frame, source)
        return pd.DataFrame({t: self.models[t].predict(X_plain, X_scale) for t in self.targets},
                            index=frame.index)

    def gradient(self, frame: pd.DataFrame, source: str = "table") -> np.ndarray | None:
        """d(predicted loss) / d(weights), ``(rows, targets, domains)`` in ``targets`` and ``domains`` order; None
        unless every target's law has an analytic gradient (then the optimizer falls back to finite differences)."""
        if not all(self.models[t].has_gradient for t in self.targets):
            return None
        X_plain, X_scale = self._inputs(frame, source)
        return np.stack([self.models[t].gradient(X_plain, X_scale) for t in self.targets], axis=1)

    def evaluation_rows(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The rows of a test table this law speaks for: every row for a scaling law; otherwise
        the final eval point of each run at the law's ``n_params`` (or, when the table has no
        row at that size, under the table's own single-scale rule)."""
        if self.uses_scale:
            return frame
        from mixtures.laws.data import apply_scale_rule, single_scale_rule

        rule = self.scale_rule
        if rule.n_params is None or "n_params" not in frame.columns or not np.isclose(
                frame["n_params"].to_numpy(dtype=np.float64), rule.n_params, rtol=1e-9).any():
            rule = single_scale_rule(frame)
        return apply_scale_rule(frame, rule)

    def predict_members(self, frame: pd.DataFrame, source: str = "table") -> np.ndarray | None:
        """Bootstrap predictions, shape (members, rows, targets); None if fit without bootstrap."""
        if not all(self.models[t].bootstrap for t in self.targets):
            return None
        X_plain, X_scale = self._inputs(frame, source)
        return np.stack([self.models[t].predict_bootstrap(X_plain, X_scale) for t in self.targets], axis=-1)

    def predict_interval(self, frame: pd.DataFrame, level: float = 0.9) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Lower and upper bounds of the central ``level`` interval of the bootstrap members."""
        members = self.predict_members(frame)
        if members is None:
            raise MixturesError("this law was fit without bootstrap members; refit with bootstrap > 0 "
                                "(e.g. fit_law(..., bootstrap=20)) to get prediction intervals.")
        q = (1.0 - level) / 2.0
        lo, hi = np.quantile(members, [q, 1.0 - q], axis=0)
        return (pd.DataFrame(lo, columns=self.targets, index=frame.index),
                pd.DataFrame(hi, columns=self.targets, index=frame.index))

    # JSON ---------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {"format": FORMAT, "domains": self.domains, "targets": self.targets,
                "uses_scale": self.uses_scale, "families": self.families,
                "scale_rule": self.scale_rule.to_dict(), "selection": self.selection,
                "models": {t: self.models[t].to_dict() for t in self.targets}}

    @classmethod
    def from_dict(cls, data: dict, source: str = "law") -> MixtureLaw:
        if data.get("format") != FORMAT:
            raise TableError(f"{source}: not a mixtures law file (format {data.get('format')!r}, "
                             f"expected {FORMAT!r}); write one with 'mixtures fit'.")
        return cls(data["domains"], data["targets"],
                   {t: TargetModel.from_dict(m, source) for t, m in data["models"].items()},
                   ScaleRule.from_dict(data["scale_rule"]), data.get("selection"))

    def save(self, path: str | Path) -> None:
        """Write the law as JSON, atomically."""
        from mixtures.storage import atomic_write_text

        atomic_write_text(path, json.dumps(self.to_dict(), indent=1, allow_nan=True))  # a path or a URL

    @classmethod
    def load(cls, path: str | Path) -> MixtureLaw:
        path = Path(path)
        if not path.is_file():
            raise TableError(f"{path}: no such law file; write one with 'mixtures fit --out {path}'.")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise TableError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno}).") from None
        return cls.from_dict(data, source=str(path))


def load_law(path: str | Path) -> MixtureLaw:
    """Read a law written by :meth:`MixtureLaw.save`."""
    return MixtureLaw.load(path)

