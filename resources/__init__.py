"""Dagster resources, chosen per environment by configuration (``MIXTURES_ENV``), not by code edits.

- ``local`` (default): the embedded setup: MLflow on the project config's store
  (``sqlite:///mlflow.db``), data on local disk.
- ``team``: MLflow from ``MLFLOW_TRACKING_URI`` (e.g. a tracking server on PostgreSQL); Dagster's
  own storage comes from ``$DAGSTER_HOME/dagster.yaml`` (see README: team deployment).
"""

from __future__ import annotations

import os

import dagster as dg

from resources.project import ProjectResource
from resources.tracking import MlflowTracking

ENVIRONMENTS = ("local", "team")


def resources_for_env(env: str | None = None) -> dict[str, dg.ConfigurableResource]:
    """The resources of an environment (default: ``$MIXTURES_ENV`` or ``local``)."""
    env = env or os.environ.get("MIXTURES_ENV", "local")
    if env not in ENVIRONMENTS:
        raise ValueError(f"MIXTURES_ENV={env!r} is not one of {ENVIRONMENTS}")
    project = ProjectResource(config_path=dg.EnvVar("MIXTURES_CONFIG") if os.environ.get("MIXTURES_CONFIG") else "")
    if env == "team":
        tracking = MlflowTracking(tracking_uri=dg.EnvVar("MLFLOW_TRACKING_URI"))
    else:
        tracking = MlflowTracking()
    return {"project": project, "tracking": tracking}


__all__ = ["MlflowTracking", "ProjectResource", "resources_for_env"]
