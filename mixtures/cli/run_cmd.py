"""``mixtures run [CONFIG] [--out DIR]``: the whole pipeline.

The pipeline runs as Dagster runs on a persistent, project-local instance (``.dagster_home`` unless
``DAGSTER_HOME`` is set), driven by ``python -m assets.pipeline`` in a subprocess so that the library
itself never imports Dagster. The embedded instance queues runs (``QueuedRunCoordinator``) under pool
limits; the driver starts the daemon that launches them.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from mixtures.environment import environment
from mixtures.errors import ConfigError

EMBEDDED_HEADER = "# Dagster instance for mixtures"
EMBEDDED_INSTANCE = f"""{EMBEDDED_HEADER}: sqlite storage in this folder (see README for PostgreSQL).
# Runs queue here and the daemon launches them under the concurrency pools' limits (`train` for the
# trainings); `mixtures run` starts the daemon itself, `dagster dev` does too.
telemetry:
  enabled: false
run_coordinator:
  module: dagster._core.run_coordinator
  class: QueuedRunCoordinator
  config:
    dequeue_interval_seconds: 1
concurrency:
  pools:
    granularity: run
    default_limit: 1
run_monitoring:
  enabled: true
  poll_interval_seconds: 5
"""


def check_environment(env: dict[str, str], dagster_home: Path) -> None:
    """Refuse, before anything starts, an environment the pipeline would fail in later or silently
    replace: an unknown ``MIXTURES_ENV``; ``team`` without ``MLFLOW_TRACKING_URI`` or without a
    ``$DAGSTER_HOME/dagster.yaml`` (else an embedded sqlite instance would be created instead)."""
    if environment(env) != "team":
        return
    if not env.get("MLFLOW_TRACKING_URI"):
        raise ConfigError("MIXTURES_ENV=team needs MLFLOW_TRACKING_URI, the team's MLflow server "
                          "(e.g. http://127.0.0.1:5000); see README: Team deployment.")
    if not env.get("DAGSTER_HOME") or not (dagster_home / "dagster.yaml").is_file():
        raise ConfigError(f"MIXTURES_ENV=team needs DAGSTER_HOME set to a folder with a dagster.yaml "
                          f"(looked in {dagster_home}); copy deploy/team/dagster.yaml there (README: Team deployment).")


def ensure_instance(home: Path) -> None:
    """Write (or upgrade) the embedded instance's ``dagster.yaml``; refuse a user's instance that cannot queue."""
    home.mkdir(parents=True, exist_ok=True)
    path = home / "dagster.yaml"
    text = path.read_text(encoding="utf-8") if path.is_file() else None
    if text is None or (text.startswith(EMBEDDED_HEADER) and text != EMBEDDED_INSTANCE):
        fd, tmp = tempfile.mkstemp(prefix=".dagster.yaml.", dir=home)  # racing first runs write the same bytes
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(EMBEDDED_INSTANCE)
        os.replace(tmp, path)
    elif "QueuedRunCoordinator" not in text:
        raise ConfigError(f"{path}: the pipeline queues its runs on the instance, so its run_coordinator must be "
                          "QueuedRunCoordinator (with `concurrency: pools: granularity: run`); see "
                          "deploy/team/dagster.yaml (README: Run on a cluster).")


def drive(args: argparse.Namespace, extra: list[str]) -> int:
    """Start the pipeline driver on the project's instance and wait for it (also through Ctrl-C, which
    the driver gets too and answers by stopping every run it started)."""
    env = dict(os.environ)
    workdir = Path.cwd()
    if args.config:
        from mixtures.config import load_config

        config_path = Path(args.config).resolve()
        load_config(config_path)  # refuse a bad config here, clearly, before anything starts
        env["MIXTURES_CONFIG"] = str(config_path)
    else:
        env.pop("MIXTURES_CONFIG", None)
    env.setdefault("MIXTURES_WORKDIR", str(workdir))
    home = Path(env.get("DAGSTER_HOME") or workdir / ".dagster_home").resolve()
    check_environment(env, home)
    ensure_instance(home)
    env["DAGSTER_HOME"] = str(home)
    command = [sys.executable, "-m", "assets.pipeline", *extra]
    if args.out:
        command += ["--out", str(Path(args.out).resolve())]
    try:
        process = subprocess.Popen(command, env=env)
    except FileNotFoundError as exc:  # pragma: no cover - the interpreter itself is missing
        raise ConfigError(f"cannot start the pipeline: {exc}") from None
    while True:
        try:
            return process.wait()
        except KeyboardInterrupt:
            continue  # the driver is stopping its runs; its exit code (130) follows


def run(args: argparse.Namespace) -> int:
    return drive(args, [])


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "run", help="run the whole pipeline (default: the embedded demo)",
        description="Run every stage of the pipeline on a persistent Dagster instance; "
        "open `dagster dev` and `mlflow ui` afterwards to see it.",
    )
    parser.add_argument("config", nargs="?", help="project config YAML (default: the embedded demo)")
    parser.add_argument("--out", help="folder for the verdict files (validation.json)")
    parser.set_defaults(func=run)
