"""The ``k8s`` launcher: each training run is one Kubernetes Job, created by ``dagster_k8s.execute_k8s_job``.

The pod runs the worker (``python -m resources.launchers.worker --kind ... --run-id ...``) in
``launch.k8s.image``, with ``launch.k8s`` resources (``nvidia.com/gpu`` for GPUs), in its namespace;
its logs stream into the step's logs. The pod must see the run store: ``storage.root`` on object
storage (``s3://...``) or a shared volume. Needs ``pip install '.[k8s]'`` and a cluster; the job it
would create is built and checked by the tests, but no cluster was available to run one.
"""

from __future__ import annotations

import os
from typing import Any

import dagster as dg

from mixtures.config import K8sLaunchConfig
from mixtures.errors import ConfigError
from resources.launchers.base import LaunchRequest, judge

# Variables the pod needs for its tracking server and storage, passed when set here: dagster-k8s reads their
# values from this process's environment at launch ("NAME" entries), so they never land in a file.
PASSED_ENV = ("MIXTURES_ENV", "MLFLOW_TRACKING_URI", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
              "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL")


class K8sLauncher:
    """Create one Kubernetes Job per run and wait for it."""

    name = "k8s"
    default_concurrency = 16
    stop_grace_s = 4.0  # seconds a stopped run worker gets after SIGTERM (deleting its Job)

    def __init__(self, config) -> None:
        self.config = config
        self.settings: K8sLaunchConfig = config.launch.k8s

    def stop(self, run_ids: list[str]) -> None:
        """Nothing here: dagster-k8s deletes a run's Job when its step is interrupted."""

    def job_kwargs(self, request: LaunchRequest) -> dict[str, Any]:
        """The arguments of ``execute_k8s_job`` for ``request`` (no cluster needed to build them)."""
        s = self.settings
        if not s.image:
            raise ConfigError("launch.launcher is k8s but launch.k8s.image is not set: give an image with "
                              "mixtures installed (pip install '.[k8s]'); see README: Run on a cluster.")
        limits = {"cpu": s.cpu, "memory": s.memory, **({"nvidia.com/gpu": str(s.gpus)} if s.gpus else {})}
        command = request.worker_command("python") + ["--config", request.config_path, "--kind", request.spec.kind,
                                                      "--run-id", request.spec.run_id]
        if request.workdir:
            command += ["--workdir", request.workdir]
        env = [f"{k}={v}" for k, v in sorted({**request.worker_env(), **s.env}.items())]
        env += [name for name in PASSED_ENV if name in os.environ]
        kwargs: dict[str, Any] = {
            "image": s.image, "command": command, "namespace": s.namespace, "image_pull_policy": s.image_pull_policy,
            "env_vars": env, "resources": {"requests": {"cpu": s.cpu, "memory": s.memory}, "limits": limits},
            "k8s_job_name": _job_name(request),
            "labels": {"mixtures/kind": request.spec.kind},
            "load_incluster_config": s.kubeconfig is None, "kubeconfig_file": s.kubeconfig,
        }
        if s.service_account:
            kwargs["service_account_name"] = s.service_account
        if s.node_selector:
            kwargs["pod_spec_config"] = {"node_selector": dict(s.node_selector)}
        return kwargs

    def launch(self, context: dg.AssetExecutionContext, request: LaunchRequest) -> None:
        try:
            from dagster_k8s import execute_k8s_job
        except ImportError:
            raise ConfigError("launch.launcher is k8s but dagster-k8s is not installed: pip install '.[k8s]'") from None
        how = "the Kubernetes job ended"
        try:
            execute_k8s_job(context, **self.job_kwargs(request))
        except dg.Failure:
            raise
        except Exception as exc:  # the job failed or was deleted: the store says whether training failed
            how = f"the Kubernetes job failed ({type(exc).__name__}: {exc})"
        judge(request, how, [])


def _job_name(request: LaunchRequest) -> str:
    """A DNS-1123 name (63 characters at most) for the run's job."""
    import hashlib
    import re

    base = re.sub(r"[^a-z0-9-]+", "-", f"mixtures-{request.spec.kind}-{request.spec.run_id}".lower()).strip("-")
    digest = hashlib.sha256(request.spec.run_id.encode()).hexdigest()[:8]
    return f"{base[:50].rstrip('-')}-{digest}"
