"""Launchers: where a training run executes, chosen per environment (``MIXTURES_LAUNCHER``, else the
project config's ``launch.launcher``).

| name | runs each training as | module |
| --- | --- | --- |
| ``local`` | a subprocess of the Dagster step (the embedded default) | :mod:`resources.launchers.local` |
| ``slurm`` | one ``sbatch`` job | :mod:`resources.launchers.slurm` |
| ``k8s`` | one Kubernetes Job (dagster-k8s) | :mod:`resources.launchers.k8s` |

Adding one: a class with ``name``, ``default_concurrency``, ``stop_grace_s``, ``launch(context, request)`` (it runs the
worker of :mod:`resources.launchers.base` and calls ``judge``) and ``stop(run_ids)`` (cancel what a stopped
pipeline left running), registered below, and its name in ``mixtures.config.LauncherName``.
"""

from __future__ import annotations

import os

import dagster as dg

from mixtures.registry import Registry
from resources.launchers.base import LaunchRequest
from resources.launchers.k8s import K8sLauncher
from resources.launchers.local import LocalLauncher
from resources.launchers.slurm import SlurmLauncher

LAUNCHERS: Registry[type] = Registry("launcher", field="launch.launcher / MIXTURES_LAUNCHER")
for _cls in (LocalLauncher, SlurmLauncher, K8sLauncher):
    LAUNCHERS.add(_cls.name, _cls)
LAUNCHER_ENV = "MIXTURES_LAUNCHER"
TRAIN_POOL = os.environ.get("MIXTURES_TRAIN_POOL", "train")  # the Dagster concurrency pool of every training


def launcher_name(config) -> str:
    """``$MIXTURES_LAUNCHER`` if set, else ``launch.launcher``."""
    name = os.environ.get(LAUNCHER_ENV) or config.launch.launcher
    LAUNCHERS.get(name)  # a clear error for an unknown name
    return name


def concurrency(config) -> int:
    """How many trainings may run at once: ``$MIXTURES_WORKERS``, ``launch.max_concurrent``, else the
    launcher's default (local: the cores this process may use / threads per run)."""
    from mixtures.resample.parallel import available_cores

    if os.environ.get("MIXTURES_WORKERS"):
        return max(1, int(os.environ["MIXTURES_WORKERS"]))
    if config.launch.max_concurrent:
        return int(config.launch.max_concurrent)
    cls = LAUNCHERS.get(launcher_name(config))
    return cls.default_concurrency or max(1, available_cores() // config.launch.threads)


def stop_grace_s(config) -> float:
    """Seconds a pipeline being stopped gives its run workers, after SIGTERM, to stop their trainings."""
    return float(LAUNCHERS.get(launcher_name(config)).stop_grace_s)


def stop_jobs(config, run_ids: list[str]) -> None:
    """Cancel what the environment's launcher may have left running for ``run_ids`` (a pipeline being stopped)."""
    LAUNCHERS.get(launcher_name(config))(config).stop(run_ids)


class TrainingLauncher(dg.ConfigurableResource):
    """The launcher every training asset uses. ``name`` empty: ``$MIXTURES_LAUNCHER``, else the config's
    ``launch.launcher``; its settings come from the config's ``launch`` section."""

    name: str = ""

    def launch(self, context: dg.AssetExecutionContext, request: LaunchRequest) -> str:
        """Run ``request`` to its end; returns the launcher's name. Raises ``dg.Failure`` otherwise."""
        name = self.name or launcher_name(request.config)
        LAUNCHERS.get(name)(request.config).launch(context, request)
        return name


__all__ = ["LAUNCHERS", "TRAIN_POOL", "LaunchRequest", "TrainingLauncher", "concurrency", "launcher_name", "stop_grace_s", "stop_jobs"]
