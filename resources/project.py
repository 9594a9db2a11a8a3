"""The project configuration as a Dagster resource."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import dagster as dg

from mixtures.config import ProjectConfig
from mixtures.defaults import project_config


@lru_cache(maxsize=8)
def _load(path: str, workdir: str) -> ProjectConfig:
    return project_config(path, workdir)


class ProjectResource(dg.ConfigurableResource):
    """Which project config the pipeline runs.

    ``config_path`` empty (the default; also ``MIXTURES_CONFIG`` unset) means the embedded demo:
    the bundled demo corpus, built on first use under ``workdir``.
    """

    config_path: str = ""
    workdir: str = ""

    def config_file(self) -> str:
        """The config file's absolute path ("" for the embedded demo)."""
        path = self.config_path or os.environ.get("MIXTURES_CONFIG", "")
        return str(Path(path).resolve()) if path else ""

    def work_folder(self) -> str:
        """The folder the embedded demo lives in (``MIXTURES_WORKDIR``, else the current folder)."""
        return str(Path(self.workdir or os.environ.get("MIXTURES_WORKDIR", "") or os.getcwd()).resolve())

    def load(self) -> ProjectConfig:
        return _load(self.config_file(), self.work_folder())
