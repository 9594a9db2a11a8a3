"""``mixtures run [CONFIG] [--out DIR]``: the whole pipeline, as far as it exists.

The pipeline runs as Dagster runs on a persistent, project-local instance (``.dagster_home``
unless ``DAGSTER_HOME`` is set), in a subprocess so that the library itself never imports Dagster.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from mixtures.errors import ConfigError


ENVIRONMENTS = ("local", "team")  # as resources.resources_for_env (the library does not import resources)


def check_environment(env: dict[str, str], dagster_home: Path) -> None:
    """Refuse, before anything starts, an environment the pipeline would fail in later or silently
    replace: an unknown ``MIXTURES_ENV``; ``team`` without ``MLFLOW_TRACKING_URI`` or without a
    ``$DAGSTER_HOME/dagster.yaml`` (else an embedded sqlite instance would be created instead)."""
    name = env.get("MIXTURES_ENV") or "local"
    if name not in ENVIRONMENTS:
        raise ConfigError(f"MIXTURES_ENV={name!r} is not one of {ENVIRONMENTS}; unset it for the embedded setup.")
    if name != "team":
        return
    if not env.get("MLFLOW_TRACKING_URI"):
        raise ConfigError("MIXTURES_ENV=team needs MLFLOW_TRACKING_URI, the team's MLflow server "
                          "(e.g. http://127.0.0.1:5000); see README: Team deployment.")
    if not env.get("DAGSTER_HOME") or not (dagster_home / "dagster.yaml").is_file():
        raise ConfigError(f"MIXTURES_ENV=team needs DAGSTER_HOME set to a folder with a dagster.yaml "
                          f"(looked in {dagster_home}); copy deploy/team/dagster.yaml there (README: Team deployment).")


def run(args: argparse.Namespace) -> int:
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
    home.mkdir(parents=True, exist_ok=True)
    instance_yaml = home / "dagster.yaml"
    if not instance_yaml.exists():  # the embedded default: sqlite storage in this folder
        instance_yaml.write_text("# Dagster instance for mixtures: sqlite storage in this folder (see README for PostgreSQL).\n"
                                 "telemetry:\n  enabled: false\n")
    env["DAGSTER_HOME"] = str(home)
    command = [sys.executable, "-m", "assets.launch"]
    if args.out:
        command += ["--out", str(Path(args.out).resolve())]
    try:
        return subprocess.call(command, env=env)
    except FileNotFoundError as exc:  # pragma: no cover - the interpreter itself is missing
        raise ConfigError(f"cannot start the pipeline: {exc}") from None


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "run", help="run the whole pipeline (default: the embedded demo)",
        description="Run every stage of the pipeline on a persistent Dagster instance; "
        "open `dagster dev` and `mlflow ui` afterwards to see it.",
    )
    parser.add_argument("config", nargs="?", help="project config YAML (default: the embedded demo)")
    parser.add_argument("--out", help="folder for the verdict files (validation.json)")
    parser.set_defaults(func=run)
