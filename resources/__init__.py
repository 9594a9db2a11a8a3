"""Dagster resources, chosen per environment by configuration (``MIXTURES_ENV``, ``MIXTURES_LAUNCHER``), not by
code edits. Which environments exist and what each means: :mod:`mixtures.environment`.

- ``project``: the project config (:class:`ProjectResource`);
- ``tracking``: MLflow (:class:`MlflowTracking`; under ``team`` the server of ``MLFLOW_TRACKING_URI``);
- ``launcher``: where each training run executes (:class:`TrainingLauncher`: ``local`` | ``slurm`` | ``k8s``).
"""

from __future__ import annotations

import os

import dagster as dg

from mixtures.environment import environment
from resources.launchers import LAUNCHER_ENV, TrainingLauncher
from resources.project import ProjectResource
from resources.tracking import MlflowTracking


def resources_for_env(env: str | None = None) -> dict[str, dg.ConfigurableResource]:
    """The resources of an environment (default: ``$MIXTURES_ENV`` or ``local``)."""
    env = env or environment()
    project = ProjectResource(config_path=dg.EnvVar("MIXTURES_CONFIG") if os.environ.get("MIXTURES_CONFIG") else "")
    tracking = MlflowTracking(tracking_uri=dg.EnvVar("MLFLOW_TRACKING_URI")) if env == "team" else MlflowTracking()
    launcher = TrainingLauncher(name=os.environ.get(LAUNCHER_ENV, ""))
    return {"project": project, "tracking": tracking, "launcher": launcher}


__all__ = ["MlflowTracking", "ProjectResource", "TrainingLauncher", "resources_for_env"]
