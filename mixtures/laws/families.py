"""The law families by name (what ``laws.law`` and ``mixtures fit --law`` choose from), and their JSON form.

A law family is a scikit-learn regressor class (the :class:`LawFamily` protocol) that

- declares ``uses_scale``: its ``X`` is the domain weights (False), or the weights then ``n_params,
  n_tokens`` (True);
- takes ``sample_weight`` in ``fit``, and ``random_state`` in ``__init__`` when it draws anything
  (it is seeded with the fit's seed);
- saves what it learnt as JSON: ``fitted_state()`` and ``set_fitted_state(state)``;
- may give ``gradient(X)``: d(prediction) / d(weights), one row per row of ``X`` (a column per weight),
  which the optimizer then uses instead of finite differences (:meth:`MixtureLaw.gradient
  <mixtures.laws.mixture_law.MixtureLaw.gradient>`);
- may name ``row_params``: ``{fit/predict keyword: column prefix}``, inputs given per row from the run table's
  ``<prefix><domain>`` columns (the unique-token caps of ``repetition``, see :func:`row_inputs`); a family
  without is fit on the rows without such values only;
- may name ``context_params``: constructor parameters that come from the project rather than the fit (the
  revealed features of ``ot``, the unique tokens of ``repetition``), given through ``context`` (see
  :func:`make`); ``auto`` leaves such a family out while one of them is missing.

To add a family, write its class in its own module and add one line to :data:`LAWS` below; the fitting,
selection, saving, config and CLI read the registry.
"""

from __future__ import annotations

from typing import Any, ClassVar, Protocol

import numpy as np
from sklearn.base import BaseEstimator

from mixtures.errors import ConfigError, TableError
from mixtures.laws.ot import OTLaw
from mixtures.laws.parametric import AdditiveLaw, ExpLaw, JointLaw
from mixtures.laws.regression import GBMLaw, LinearLaw
from mixtures.laws.repetition import RepetitionLaw
from mixtures.registry import Registry

AUTO = "auto"  # not a family: the best family (or ensemble) per target by cross-validation


class LawFamily(Protocol):
    """What a registered law family class provides (besides the scikit-learn estimator API)."""

    uses_scale: ClassVar[bool]

    def fit(self, X: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None) -> Any: ...

    def predict(self, X: np.ndarray) -> np.ndarray: ...

    def fitted_state(self) -> dict: ...

    def set_fitted_state(self, state: dict) -> None: ...


LAWS: Registry[type[LawFamily]] = Registry("law family", field="laws.law")
LAWS.add("linear", LinearLaw)
LAWS.add("gbm", GBMLaw)
LAWS.add("exp", ExpLaw)
LAWS.add("additive", AdditiveLaw)
LAWS.add("joint", JointLaw)
LAWS.add("ot", OTLaw)
LAWS.add("repetition", RepetitionLaw)


def law_choices() -> list[str]:
    """What ``laws.law`` / ``--law`` accept: ``auto`` and every registered family."""
    return [AUTO, *LAWS.names()]


def checked_law(name: str) -> str:
    """``name`` when it is ``auto`` or a registered family, else a :class:`ConfigError` naming the choices."""
    if name != AUTO and name not in LAWS:
        raise ConfigError(f"{LAWS.unknown_message(name)} Or {AUTO!r}: the best family per target by CV.")
    return name


def uses_scale(family: str) -> bool:
    return bool(LAWS.get(family).uses_scale)


def applies(family: str, context: dict | None = None) -> bool:
    """Whether ``context`` gives ``family`` every one of its ``context_params`` (families without any: True)."""
    needed = getattr(LAWS.get(family), "context_params", ())
    return all((context or {}).get(name) is not None for name in needed)


def make(family: str, seed: int = 0, context: dict | None = None) -> BaseEstimator:
    """A fresh estimator of ``family``, seeded when it has a ``random_state``, with the values of ``context``
    (e.g. ``features``, ``unique_tokens``, ``target``) for the constructor parameters it has."""
    est = LAWS.get(family)()
    params = est.get_params()
    given = {k: v for k, v in (context or {}).items() if k in params and v is not None}
    if "random_state" in params:
        given["random_state"] = seed
    return est.set_params(**given) if given else est


def row_inputs(family: str, rows, domains: list[str]) -> dict[str, np.ndarray]:
    """The ``row_params`` keywords of ``family`` for ``rows`` of a run table: ``(rows, domains)`` arrays of the
    ``<prefix><domain>`` columns (NaN where absent); only those the table has a column of."""
    out = {}
    for name, prefix in getattr(LAWS.get(family), "row_params", {}).items():
        columns = [f"{prefix}{d}" for d in domains]
        if any(c in rows.columns for c in columns):
            out[name] = np.column_stack([rows[c].to_numpy(dtype=np.float64) if c in rows.columns
                                         else np.full(len(rows), np.nan) for c in columns])
    return out


def _jsonable(value):
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, np.generic):
        return value.item()
    return value


def to_dict(family: str, est: BaseEstimator) -> dict:
    """A fitted member as JSON-able data: family, constructor params, fitted state."""
    return {"family": family,
            "params": {k: _jsonable(v) for k, v in est.get_params(deep=False).items()},
            "state": est.fitted_state()}


def from_dict(data: dict, source: str = "law") -> tuple[str, BaseEstimator]:
    family = data["family"]
    if family not in LAWS:
        raise TableError(f"{source}: a member of family {family!r}, which this version does not have "
                         f"(families: {LAWS.names()}).")
    params = {k: tuple(v) if isinstance(v, list) else v for k, v in data["params"].items()}
    est = LAWS.get(family)(**params)
    est.set_fitted_state(data["state"])
    return family, est
