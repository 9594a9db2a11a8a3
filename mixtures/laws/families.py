"""The law families by name, and their JSON form."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator

from mixtures.errors import TableError
from mixtures.laws.parametric import AdditiveLaw, ExpLaw, JointLaw, LossToLoss, PowerLaw
from mixtures.laws.regression import GBMLaw, LinearLaw

FAMILIES: dict[str, type] = {
    "linear": LinearLaw,
    "gbm": GBMLaw,
    "exp": ExpLaw,
    "additive": AdditiveLaw,
    "joint": JointLaw,
}
SCALE_FAMILIES = ("additive", "joint")
AUXILIARY: dict[str, type] = {"power": PowerLaw, "loss_to_loss": LossToLoss}
LAW_CHOICES = ("auto", *FAMILIES)


def uses_scale(family: str) -> bool:
    return family in SCALE_FAMILIES


def make(family: str, seed: int = 0) -> BaseEstimator:
    """A fresh estimator of ``family``, seeded when it has a ``random_state``."""
    if family not in FAMILIES:
        raise TableError(f"unknown law family {family!r}; choose one of {list(LAW_CHOICES)}.")
    est = FAMILIES[family]()
    if "random_state" in est.get_params():
        est.set_params(random_state=seed)
    return est


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


def from_dict(data: dict) -> tuple[str, BaseEstimator]:
    family = data["family"]
    cls = FAMILIES.get(family) or AUXILIARY[family]
    params = {k: tuple(v) if isinstance(v, list) else v for k, v in data["params"].items()}
    est = cls(**params)
    est.set_fitted_state(data["state"])
    return family, est
