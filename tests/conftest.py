"""Shared pytest fixtures: a small real corpus and its project config."""

from __future__ import annotations

from pathlib import Path

import pytest

from mixtures.config import parse_config
from tests.corpus_factory import corpus_config, make_corpus


@pytest.fixture
def corpus(tmp_path: Path):
    """A five-domain corpus on disk: (root, {domain: texts})."""
    root = tmp_path / "corpus"
    texts = make_corpus(root)
    return root, texts


@pytest.fixture
def project(corpus):
    """The parsed project config for :func:`corpus`."""
    root, _ = corpus
    return parse_config(corpus_config(root), source=str(root / "project.yaml"), base_dir=root)
