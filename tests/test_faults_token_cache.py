"""Caches never go stale across a change of split (issue 19, defect 3).

- "The token cache ignores the split": :func:`test_the_token_cache_follows_the_split` (the validation
  tokens after changing ``corpus.val_fraction`` are the new split's, not the first run's);
- "A domain with 0 validation documents must be refused at the catalog, naming val_fraction":
  :func:`test_a_domain_without_validation_documents_is_refused_at_the_catalog` (library and CLI).
"""

from __future__ import annotations

import numpy as np
import pytest

from mixtures.config import parse_config
from mixtures.corpus import build_catalog
from mixtures.errors import CorpusError
from mixtures.trainers.tokens import domain_tokens
from tests.corpus_factory import make_texts, write_jsonl
from tests.proxy_fixture import fixture_config

pytestmark = pytest.mark.faults


def _with_val_fraction(config, value):
    return config.model_copy(update={"corpus": config.corpus.model_copy(update={"val_fraction": value})})


def test_the_token_cache_follows_the_split(tmp_path):
    first = fixture_config(tmp_path)
    for config in (_with_val_fraction(first, 0.2), _with_val_fraction(first, 0.4)):
        catalog = build_catalog(config).set_index("domain")
        splits = domain_tokens(config, catalog.reset_index(), "legal")
        row = catalog.loc["legal"]
        # byte tokens plus one end-of-document token per document, for this split
        assert len(splits["val"]) == row["val_tokens"] + row["val_docs"], config.corpus.val_fraction
        assert len(splits["train"]) == row["train_tokens"] + row["train_docs"], config.corpus.val_fraction
        assert int((np.asarray(splits["val"]) == 0).sum()) == row["val_docs"]


def _small_domain_config(tmp_path, **corpus):
    write_jsonl(tmp_path / "big.jsonl", make_texts("prose", 200, 0))
    write_jsonl(tmp_path / "small.jsonl", make_texts("code", 3, 1))
    data = {"domains": [{"name": "big", "paths": ["big.jsonl"]}, {"name": "small", "paths": ["small.jsonl"]}],
            "storage": {"root": str(tmp_path / ".mixtures")}, "corpus": corpus}
    return parse_config(data, source=str(tmp_path / "project.yaml"), base_dir=tmp_path)


def test_a_domain_without_validation_documents_is_refused_at_the_catalog(tmp_path, capsys):
    config = _small_domain_config(tmp_path)
    with pytest.raises(CorpusError, match=r"domain 'small': none of its 3 documents falls in the validation "
                                          r"split at corpus\.val_fraction = 0\.05"):
        build_catalog(config)
    recorded = build_catalog(config, on_error="record").set_index("domain")
    assert recorded.loc["big", "error"] == "" and "corpus.val_fraction" in recorded.loc["small", "error"]
    assert build_catalog(_small_domain_config(tmp_path, val_fraction=0.45)).set_index("domain").loc["small", "val_docs"] > 0

    from mixtures.cli import main

    (tmp_path / "project.yaml").write_text(
        "domains:\n  - {name: big, paths: [big.jsonl]}\n  - {name: small, paths: [small.jsonl]}\n", encoding="utf-8")
    code = main(["corpus", "catalog", "--config", str(tmp_path / "project.yaml")])
    err = capsys.readouterr().err
    assert code != 0 and "corpus.val_fraction" in err and "Traceback" not in err
