"""The engine tests' shared parts: a small pipeline config, ``mixtures run`` in a subprocess on its own
Dagster instance, and reading back what the run store and MLflow hold."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import yaml

from tests.pipeline_config import tiny_pipeline_config

REPO = Path(__file__).resolve().parents[1]
# The shared local pipeline (conftest's ``local_pipeline``): proxies long enough (a few seconds of training) that a
# test can cancel a Slurm job after its first checkpoint and compare with these runs.
LOCAL_PIPELINE = {"proxy_tokens": 120_000, "eval_points": 3}


def engine_config(root: Path, mlflow_uri: str, proxy_tokens: int = 40_000, eval_points: int = 2,
                  own_corpus: bool = False, validation_seeds: tuple[int, ...] = (0, 1), **launch) -> Path:
    """The tiny pipeline with 4 proxy mixtures (``validation_seeds`` of each validated mixture), written to
    ``root``; ``launch`` goes to the config's ``launch`` section. ``own_corpus`` copies the fixture corpus under
    ``root`` (for a test that changes its files)."""
    cfg = tiny_pipeline_config(root, mlflow_uri)
    if own_corpus:
        import shutil

        from tests.proxy_fixture import CORPUS

        shutil.copytree(CORPUS, root / "corpus")
        for section in [*cfg["domains"], *cfg["target"]["sets"]]:
            section["paths"] = [str(root / "corpus" / Path(p).relative_to(CORPUS)) for p in section["paths"]]
    cfg["proxy"].update({"n_mixtures": 4, "scales": [{"model": "micro", "tokens": proxy_tokens}],
                         "eval_points": eval_points})
    cfg["validation"] = {"scale": {"model": "micro", "tokens": 64_000}, "seeds": list(validation_seeds)}
    cfg["launch"] = {"max_concurrent": 2, **launch}
    root.mkdir(parents=True, exist_ok=True)
    path = root / "project.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def cli_env(root: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "DAGSTER_HOME": str(root / "dagster_home"), "PYTHONPATH": str(REPO), **extra}
    for name in ("MLFLOW_TRACKING_URI", "MIXTURES_ENV", "MIXTURES_CONFIG", "MIXTURES_WORKERS"):
        env.pop(name, None)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def run_cli(config: Path, env: dict[str, str], *args: str, timeout: float = 900,
            background: bool = False) -> subprocess.CompletedProcess | subprocess.Popen:
    """``mixtures run CONFIG ARGS`` in the config's folder (a new session, so a test can signal its group)."""
    command = [sys.executable, "-m", "mixtures", "run", str(config), *args]
    if background:
        return subprocess.Popen(command, cwd=config.parent, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, start_new_session=True)
    return subprocess.run(command, cwd=config.parent, env=env, capture_output=True, text=True, timeout=timeout)


def stored(root: Path, kind: str) -> dict[str, pd.DataFrame]:
    """``{run_id: rows}`` of every finished run of ``kind`` in the project's run store."""
    out = {}
    for folder in sorted((root / ".mixtures" / "runs" / kind).iterdir()):
        if (folder / "result.json").is_file():
            out[folder.name] = pd.read_parquet(folder / "result.parquet")
    return out


def loss_columns(rows: pd.DataFrame) -> list[str]:
    return [c for c in rows.columns if c.startswith("loss_") and c != "loss_unit"]


def mlflow_runs(uri: str, experiment: str, role: str) -> list:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name(experiment)
    return client.search_runs([exp.experiment_id], f"tags.`mixtures.role` = '{role}'", max_results=1000)
