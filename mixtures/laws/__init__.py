"""Mixing laws and scaling laws: fit, cross-validate, choose, save, log.

Public API: :class:`MixtureLawRegressor` (the scikit-learn estimator), :func:`fit_law` (it, on a run
table, with its CV report :class:`LawFit`), :class:`MixtureLaw` (the fitted law: predict, save, load) and
:func:`load_law`, the family registry :data:`LAWS`, :func:`extrapolation_check`, the family classes, and the
two-step task law (:func:`fit_two_step`, :class:`TwoStepLaw`, :class:`SigmoidAccuracy`).
"""

from mixtures.laws.estimator import MixtureLawRegressor
from mixtures.laws.families import LAWS, law_choices
from mixtures.laws.metrics import score
from mixtures.laws.mixture_law import MixtureLaw, TargetModel, load_law
from mixtures.laws.parametric import AdditiveLaw, ExpLaw, JointLaw, LossToLoss, PowerLaw
from mixtures.laws.per_mixture import PerMixturePowerLaw
from mixtures.laws.regression import GBMLaw, LinearLaw
from mixtures.laws.robust import ConvergenceWarning
from mixtures.laws.selection import LawFit, extrapolation_check, fit_law
from mixtures.laws.two_step import SigmoidAccuracy, TwoStepLaw, fit_two_step

__all__ = [
    "LAWS", "law_choices", "MixtureLaw", "MixtureLawRegressor", "TargetModel", "LawFit", "fit_law", "load_law",
    "extrapolation_check", "score", "ExpLaw", "AdditiveLaw", "JointLaw", "PowerLaw",
    "LossToLoss", "PerMixturePowerLaw", "LinearLaw", "GBMLaw", "ConvergenceWarning",
    "SigmoidAccuracy", "TwoStepLaw", "fit_two_step",
]
