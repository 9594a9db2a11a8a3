"""The launchers without a cluster: the registry matches the config, the Slurm job script carries the
configured resources, the Kubernetes job is built by dagster-k8s itself with GPUs and namespace, and no
training pool of our own is left in the code."""

from __future__ import annotations

import re
import subprocess
import typing
from pathlib import Path

import pytest

from mixtures.config import LauncherName, parse_config
from mixtures.errors import ConfigError
from mixtures.runs import RunSpec
from mixtures.runs.store import RunStore
from resources.launchers import LAUNCHERS, LaunchRequest, concurrency, launcher_name
from resources.launchers.k8s import K8sLauncher
from resources.launchers.slurm import SlurmLauncher

REPO = Path(__file__).resolve().parents[1]


def _config(tmp_path, **launch):
    return parse_config({"domains": [{"name": "a", "paths": ["a"]}], "storage": {"root": str(tmp_path / "root")},
                         "launch": launch}, base_dir=tmp_path)


def _request(config, threads: int = 1) -> LaunchRequest:
    spec = RunSpec.create("natural", {"a": 1.0}, "micro", 4096, 0, threads=threads)
    return LaunchRequest(spec, RunStore(config.root), config, "/p/project.yaml", "/p")


def test_the_launcher_registry_is_the_configs_choice_and_the_environment_overrides_it(tmp_path, monkeypatch):
    assert LAUNCHERS.names() == list(typing.get_args(LauncherName))
    config = _config(tmp_path, launcher="slurm", max_concurrent=5)
    monkeypatch.delenv("MIXTURES_LAUNCHER", raising=False)
    monkeypatch.delenv("MIXTURES_WORKERS", raising=False)
    assert launcher_name(config) == "slurm" and concurrency(config) == 5
    monkeypatch.setenv("MIXTURES_LAUNCHER", "local")
    assert launcher_name(config) == "local"
    monkeypatch.setenv("MIXTURES_LAUNCHER", "slrum")
    with pytest.raises(ConfigError, match="did you mean 'slurm'"):
        launcher_name(config)
    with pytest.raises(ConfigError, match="launch.launcher"):
        _config(tmp_path, launcher="pbs")


def test_the_slurm_script_asks_for_the_configured_resources(tmp_path):
    config = _config(tmp_path, launcher="slurm", threads=4, slurm={
        "partition": "gpu", "account": "lm", "gpus": 2, "mem": "32G", "time": "02:00:00",
        "extra_args": ["--constraint=a100"], "setup": ["module load cuda"]})
    request = _request(config, threads=4)
    script = SlurmLauncher(config).script(request, {"DAGSTER_PIPES_CONTEXT": "abc", "OMP_NUM_THREADS": "4"})
    directives = re.findall(r"^#SBATCH (\S+)$", script, re.M)
    assert {"--partition=gpu", "--account=lm", "--gres=gpu:2", "--mem=32G", "--time=02:00:00",
            "--cpus-per-task=4", "--requeue", "--constraint=a100"} <= set(directives)
    assert f"--job-name=mixtures-{request.spec.run_id}" in directives
    assert "module load cuda" in script and "export DAGSTER_PIPES_CONTEXT=abc" in script
    assert script.rstrip().endswith("-m resources.launchers.worker")
    assert subprocess.run(["bash", "-n"], input=script, text=True).returncode == 0  # a valid shell script
    with pytest.raises(ConfigError, match=r"launch.slurm.mem"):
        _config(tmp_path, slurm={"mem": "lots"})


def test_the_kubernetes_job_is_built_by_dagster_k8s_with_gpus_namespace_and_image(tmp_path):
    pytest.importorskip("dagster_k8s", reason="the k8s extra (pip install '.[k8s]') is not installed")
    from dagster_k8s.container_context import K8sContainerContext
    from dagster_k8s.job import DagsterK8sJobConfig, construct_dagster_k8s_job

    config = _config(tmp_path, launcher="k8s", k8s={"image": "registry.example/mixtures:1", "namespace": "lm",
                                                    "gpus": 1, "cpu": "4", "memory": "16Gi"})
    kwargs = K8sLauncher(config).job_kwargs(_request(config))
    assert kwargs["namespace"] == "lm" and kwargs["image"] == "registry.example/mixtures:1"
    assert kwargs["resources"]["limits"]["nvidia.com/gpu"] == "1"
    context = K8sContainerContext(namespace=kwargs["namespace"], resources=kwargs["resources"],
                                  env_vars=kwargs["env_vars"])  # dagster-k8s validates the shape
    job = construct_dagster_k8s_job(
        job_config=DagsterK8sJobConfig(job_image=kwargs["image"], dagster_home=None), args=None,
        job_name=kwargs["k8s_job_name"], pod_name=kwargs["k8s_job_name"], component="k8s_job_op",
        user_defined_k8s_config=context.run_k8s_config.__class__.from_dict(
            {"container_config": {"command": kwargs["command"], "resources": kwargs["resources"]}}),
        labels=kwargs["labels"])
    container = job.spec.template.spec.containers[0]
    assert container.resources.limits["nvidia.com/gpu"] == "1" and container.image == "registry.example/mixtures:1"
    command = container.command
    assert command[:3] == ["python", "-m", "resources.launchers.worker"]
    assert command[command.index("--run-id") + 1] == "natural.micro.4096.s0" and "--kind" in command
    assert len(kwargs["k8s_job_name"]) <= 63 and re.fullmatch(r"[a-z0-9-]+", kwargs["k8s_job_name"])
    with pytest.raises(ConfigError, match="launch.k8s.image"):
        K8sLauncher(_config(tmp_path, launcher="k8s")).job_kwargs(_request(config))


def test_no_private_process_pool_runs_trainings():
    """Every training is a Dagster partition: no process pool or multiprocessing outside the materializer's
    own workers (mixtures/resample)."""
    found = subprocess.run(["grep", "-rln", r"ProcessPoolExecutor\|multiprocessing", "assets", "mixtures"],
                           cwd=REPO, capture_output=True, text=True).stdout.split()
    assert [f for f in found if not f.startswith("mixtures/resample/")] == []


def test_a_stored_run_that_mlflow_never_recorded_is_queued_again(tmp_path):
    """A job that wrote its result but whose partition failed (the launcher gave up on it) left a run that MLflow
    never recorded: the next pipeline queues its partition again, which reuses the result and logs it."""
    import pandas as pd

    from assets.jobs import PIPELINE_STAGES
    from assets.pipeline import stage_keys
    from mixtures.layout import PROXY_DESIGN, project_file
    from mixtures.storage import atomic_write_frame

    config = _config(tmp_path)
    store = RunStore(config.root)
    specs = [RunSpec.create(name, {"a": 1.0}, "micro", 4096, 0) for name in ("natural", "uniform", "planned")]
    store.plan(specs)
    atomic_write_frame(project_file(config, PROXY_DESIGN), pd.DataFrame({"run_id": [s.run_id for s in specs]}))
    rows = pd.DataFrame({"run_id": ["x"], "loss_a": [1.0]})
    store.mark_logged(store.save(specs[0], rows), "mlflow-run-1")
    store.save(specs[1], rows)  # stored, never logged
    proxy = next(s for s in PIPELINE_STAGES if s.partitions == "proxy")
    keys, todo = stage_keys(proxy, config)
    assert keys == [s.run_id for s in specs] and todo == [specs[1].run_id, specs[2].run_id]
