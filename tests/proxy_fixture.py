"""The shipped fixture corpus as a proxy-run project (used by the design and trainer tests)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mixtures.config import ProjectConfig, parse_config
from mixtures.corpus import build_catalog

CORPUS = Path(__file__).resolve().parent / "fixtures" / "corpus"
DOMAINS = [
    {"name": "speeches", "paths": ["speeches"], "format": "text"},
    {"name": "literature", "paths": ["literature"]},
    {"name": "code", "paths": ["code"]},
    {"name": "legal", "paths": ["legal"]},
    {"name": "email", "paths": ["email"]},
]


def fixture_config(tmp_path: Path, domains: list[dict] | None = None, **proxy) -> ProjectConfig:
    """Five training domains and the ``docs`` target set of the fixture corpus; caches under ``tmp_path``."""
    data = {
        "project": "proxy-test",
        "domains": domains or DOMAINS,
        "target": {"sets": [{"name": "docs", "paths": ["docs"]}]},
        "corpus": {"val_fraction": 0.2},
        "storage": {"root": str(tmp_path / ".mixtures")},
        "proxy": {"scales": [{"model": "micro", "tokens": 40_000}], **proxy},
    }
    return parse_config(data, source="fixture project", base_dir=CORPUS)


def fixture_catalog(config: ProjectConfig) -> pd.DataFrame:
    return build_catalog(config)
