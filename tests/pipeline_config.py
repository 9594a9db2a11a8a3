"""A project config small enough for the whole pipeline in about a minute on 2 cores: the shipped
fixture corpus (five domains, ``docs`` as the held-out target), micro proxies."""

from __future__ import annotations

from pathlib import Path

from tests.proxy_fixture import CORPUS
from tests.proxy_fixture import DOMAINS as _DOMAINS

DOMAINS = tuple(d["name"] for d in _DOMAINS)


def tiny_pipeline_config(root: Path, mlflow_uri: str) -> dict:
    """The shipped fixture corpus (five domains, ``docs`` as held-out target), sized for a minute on 2 cores."""
    cfg = {"project": "pipeline-test",
           "domains": [{**d, "paths": [str(CORPUS / p) for p in d["paths"]]} for d in _DOMAINS],
           "target": {"sets": [{"name": "docs", "paths": [str(CORPUS / "docs")]}]},
           "corpus": {"val_fraction": 0.2},
           "storage": {"root": str(root / ".mixtures")}}
    cfg["tracking"] = {"uri": mlflow_uri, "experiment": "pipeline-test"}
    cfg["proxy"] = {"n_mixtures": 5, "scales": [{"model": "micro", "tokens": 40000}], "seeds": [0],
                    "eval_points": 2, "max_epochs": 50}
    cfg["laws"] = {"law": "linear", "folds": 3, "min_spearman": -1.0, "bootstrap": 4}
    cfg["constraints"] = {"max_epochs": 50}
    cfg["optimize"] = {"solver": "slsqp", "tokens": 20000}
    cfg["validation"] = {"scale": {"model": "micro", "tokens": 24000}, "seeds": [0, 1]}
    cfg["dataset"] = {"size": 8000, "unit": "bytes", "shard_mb": 0.004, "split_documents": 1000}
    return cfg
