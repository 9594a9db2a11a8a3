"""The embedded defaults: the demo project config, resolved against a working directory."""

from __future__ import annotations

from pathlib import Path

import yaml

from mixtures.config import ProjectConfig, parse_config

DEMO_CONFIG = Path(__file__).with_name("demo.yaml")
DEMO_CORPUS_DIR = ".mixtures/demo-corpus"
# Per-domain sizes (MB of text) of the demo corpus. Unequal on purpose, as in real corpora where one
# source dominates: the natural mixture (token shares) leans on pubmed, and is not the uniform one.
DEMO_CAPS_MB = {
    "wiki": 3.0, "pubmed": 6.0, "code": 2.0, "legal": 2.0, "speeches": 2.0,
    "literature": 2.0, "email": 1.5, "docs": 1.0, "appcode": 1.0,
}


def load_demo_config(workdir: Path) -> ProjectConfig:
    """The demo config with its relative paths resolved against ``workdir``."""
    data = yaml.safe_load(DEMO_CONFIG.read_text(encoding="utf-8"))
    return parse_config(data, source=f"{DEMO_CONFIG} (embedded demo)", base_dir=workdir)


def prepare_demo(workdir: Path, progress: bool = False) -> ProjectConfig:
    """The demo config, with its corpus built under ``workdir`` first (cached: ~0.3 s when built)."""
    from mixtures.demo_corpus import build_demo_corpus

    build_demo_corpus(Path(workdir) / DEMO_CORPUS_DIR, caps=DEMO_CAPS_MB, progress=progress)
    return load_demo_config(workdir)
