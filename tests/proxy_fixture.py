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


def kill_at_first_checkpoint(code: str, workdir: Path, timeout_s: float = 120.0) -> dict:
    """Run ``code`` (a training script) in a child Python, SIGKILL it as soon as its first checkpoint
    appears in ``workdir``, and return the checkpoint's training state."""
    import os
    import signal
    import subprocess
    import sys
    import time

    import torch

    from mixtures.trainers.builtin import CHECKPOINT

    repo = Path(__file__).resolve().parents[1]
    env = {**os.environ, "MIXTURES_TRAIN_THREADS": "1", "PYTHONPATH": str(repo)}
    child = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    checkpoint = workdir / CHECKPOINT
    deadline = time.monotonic() + timeout_s
    while not checkpoint.exists() and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    child.send_signal(signal.SIGKILL)
    _, err = child.communicate()
    assert child.returncode == -signal.SIGKILL, err.decode()[-2000:]
    return torch.load(checkpoint, weights_only=False)["state"]
