"""Online mixing inside the built-in proxy trainer: DoReMi, Aioli-style, gradient alignment, and
loss-based sample reweighting, each a :class:`~mixtures.trainers.schedule.MixtureSchedule`.

:func:`mixtures.online.runner.run_online` trains one online proxy run and returns its mixture,
weight trajectory and cost; ``mixtures compare-methods`` validates the mixtures beside the baselines.
"""

from __future__ import annotations

from mixtures.online.aioli import AioliSchedule
from mixtures.online.base import OnlineSchedule, exp_grad_step
from mixtures.online.dga import GradientAlignmentSchedule
from mixtures.online.doremi import DoReMiSchedule
from mixtures.online.reweight import LossReweightSchedule, effective_sample_size, sample_weights

from mixtures.online.registry import ONLINE_METHODS, MethodSetup, OnlineMethod

__all__ = [
    "ONLINE_METHODS", "MethodSetup", "OnlineMethod", "AioliSchedule", "DoReMiSchedule", "GradientAlignmentSchedule", "LossReweightSchedule",
    "OnlineSchedule", "effective_sample_size", "exp_grad_step", "sample_weights",
]
