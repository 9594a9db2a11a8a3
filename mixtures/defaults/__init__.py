"""The embedded defaults: the demo project config, resolved against a working directory."""

from __future__ import annotations

from pathlib import Path

import yaml

from mixtures.config import ProjectConfig, parse_config

DEMO_CONFIG = Path(__file__).with_name("demo.yaml")
DEMO_CORPUS_DIR = ".mixtures/demo-corpus"


def load_demo_config(workdir: Path) -> ProjectConfig:
    """The demo config with its relative paths resolved against ``workdir``."""
    data = yaml.safe_load(DEMO_CONFIG.read_text(encoding="utf-8"))
    return parse_config(data, source=f"{DEMO_CONFIG} (embedded demo)", base_dir=workdir)


def is_demo(config: ProjectConfig) -> bool:
    """True for the embedded demo project."""
    return config.project == "mixtures-demo"
