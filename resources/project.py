"""The project configuration as a Dagster resource."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import dagster as dg

from mixtures.config import ProjectConfig, load_config
from mixtures.defaults import prepare_demo


@lru_cache(maxsize=8)
def _load(path: str, workdir: str) -> ProjectConfig:
    return load_config(path) if path else prepare_demo(Path(workdir))


class ProjectResource(dg.ConfigurableResource):
    """Which project config the pipeline runs.

    ``config_path`` empty (the default; also ``MIXTURES_CONFIG`` unset) means the embedded demo:
    the bundled demo corpus, built on first use under ``workdir``.
    """

    config_path: str = ""
    workdir: str = ""

    def load(self) -> ProjectConfig:
        path = self.config_path or os.environ.get("MIXTURES_CONFIG", "")
        workdir = self.workdir or os.environ.get("MIXTURES_WORKDIR", "") or os.getcwd()
        return _load(str(Path(path).resolve()) if path else "", str(Path(workdir).resolve()))
