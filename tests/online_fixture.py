"""The shipped fixture corpus as a tiny online-mixing project (micro preset, a few dozen steps)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mixtures.config import ProjectConfig, parse_config
from tests.proxy_fixture import CORPUS, DOMAINS


@pytest.fixture(scope="session")
def online_cache(tmp_path_factory) -> Path:
    """One byte-token cache for every online test (building it reads the corpus: seconds)."""
    return tmp_path_factory.mktemp("online-token-cache")


def online_config(tmp_path: Path, *, domains: list[dict] | None = None, target: dict | None = None,
                  tokens: int = 20 * 1024, online: dict | None = None, base_dir: Path = CORPUS,
                  cache: Path | None = None) -> ProjectConfig:
    """Five training domains (``docs`` is the held-out target set); 20 micro steps (of 1024 tokens) by default.
    ``cache``: the token cache folder (default: under ``tmp_path``)."""
    data = {
        "project": "online-test",
        "domains": domains or DOMAINS,
        "target": target if target is not None else {"sets": [{"name": "docs", "paths": ["docs"]}]},
        "corpus": {"val_fraction": 0.2},
        "storage": {"root": str(tmp_path / ".mixtures"), **({"cache": str(cache)} if cache else {})},
        "proxy": {"scales": [{"model": "micro", "tokens": tokens}], "eval_points": 2, "seeds": [0]},
        "online": {"steps_per_update": 4, **(online or {})},
    }
    return parse_config(data, source="online fixture project", base_dir=base_dir)
