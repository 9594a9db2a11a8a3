"""The deployment environment, chosen by ``MIXTURES_ENV`` (one place; the CLI and the Dagster resources ask here).

- ``local`` (default): the embedded setup: MLflow on the project config's store (``tracking.uri``, by default
  ``sqlite:///mlflow.db``), Dagster on a project-local sqlite instance.
- ``team``: MLflow from ``MLFLOW_TRACKING_URI`` (a tracking server), Dagster from ``$DAGSTER_HOME/dagster.yaml``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from mixtures.errors import ConfigError

ENVIRONMENTS = ("local", "team")
ENV_VAR = "MIXTURES_ENV"


def environment(env: Mapping[str, str] | None = None) -> str:
    """The environment's name (a clear error for an unknown one)."""
    name = (env if env is not None else os.environ).get(ENV_VAR) or "local"
    if name not in ENVIRONMENTS:
        raise ConfigError(f"{ENV_VAR}={name!r} is not one of {ENVIRONMENTS}; unset it for the embedded setup.")
    return name


def tracking_uri_override(env: Mapping[str, str] | None = None) -> str | None:
    """``MLFLOW_TRACKING_URI`` under ``team`` (it then replaces the config's ``tracking.uri``), else ``None``."""
    env = env if env is not None else os.environ
    if environment(env) != "team":
        return None
    return env.get("MLFLOW_TRACKING_URI") or None
