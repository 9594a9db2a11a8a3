"""Mixing laws and scaling laws: fit, cross-validate, choose, save, log.

Public API: :class:`MixtureLawRegressor` (the scikit-learn estimator), :func:`fit_law` (it, on a run
table, with its CV report :class:`LawFit`), :class:`MixtureLaw` (the fitted law: predict, save, load) and
:func:`load_law`, the family registry :data:`LAWS`, :func:`extrapolation_check`, the family classes, and the
two-step task law (:func:`fit_two_step`, :class:`TwoStepLaw`, :class:`SigmoidAccuracy`; :func:`fit_task_laws`
for every task, and :class:`TaskLaw`, a law that predicts their accuracies beside its losses).
"""

from mixtures.lazy import lazy_exports

_EXPORTS = {
    "MixtureLawRegressor": "estimator", "LAWS": "families", "law_choices": "families", "score": "metrics",
    "MixtureLaw": "mixture_law", "TargetModel": "mixture_law", "load_law": "mixture_law", "AdditiveLaw": "parametric",
    "ExpLaw": "parametric", "JointLaw": "parametric", "LossToLoss": "parametric", "PowerLaw": "parametric",
    "PerMixturePowerLaw": "per_mixture", "GBMLaw": "regression", "LinearLaw": "regression",
    "ConvergenceWarning": "robust", "LawFit": "selection", "extrapolation_check": "selection", "fit_law": "selection",
    "SigmoidAccuracy": "two_step", "TwoStepLaw": "two_step", "fit_two_step": "two_step",
    "fit_task_laws": "two_step", "TaskLaw": "task_law",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)  # scikit-learn loads with the first estimator, not with the package
