"""Mixing laws and scaling laws: fit, cross-validate, choose, save, log.

Public API (see CONVENTIONS.md): :class:`MixtureLaw`, :func:`fit_law`, :func:`load_law`,
:class:`LawFit`, plus :func:`aggregate`, :func:`extrapolation_check` and the estimator classes.
"""

from mixtures.laws.families import FAMILIES, LAW_CHOICES
from mixtures.laws.metrics import score
from mixtures.laws.mixture_law import MixtureLaw, TargetModel, aggregate, load_law
from mixtures.laws.parametric import AdditiveLaw, ExpLaw, JointLaw, LossToLoss, PowerLaw
from mixtures.laws.per_mixture import PerMixturePowerLaw
from mixtures.laws.regression import GBMLaw, LinearLaw
from mixtures.laws.robust import ConvergenceWarning
from mixtures.laws.selection import LawFit, extrapolation_check, fit_law, select_law

__all__ = [
    "FAMILIES", "LAW_CHOICES", "MixtureLaw", "TargetModel", "LawFit", "fit_law", "select_law", "load_law",
    "aggregate", "extrapolation_check", "score", "ExpLaw", "AdditiveLaw", "JointLaw", "PowerLaw",
    "LossToLoss", "PerMixturePowerLaw", "LinearLaw", "GBMLaw", "ConvergenceWarning",
]
