"""The project's files under ``storage.root``: one list, used by the library, the assets and the CLI."""

from __future__ import annotations

from pathlib import Path

from mixtures.config import ProjectConfig

CATALOG = "catalog.parquet"
PROXY_DESIGN = "proxy_design.parquet"
PROXY_RESULTS = "proxy_results.parquet"
PROXY_REPEATS = "proxy_repeats.parquet"  # the noise-floor repeats, kept out of the fit
LAW = "law.json"
REVEALED_FEATURES = "revealed_features.npz"  # the ot law's features (mixtures.laws.context)
OPTIMAL_MIXTURE = "optimal_mixture.json"
OPTIMUM_CATALOG = "optimum_catalog.parquet"  # the catalog the optimum was made from (reuse compares with it)
REUSE_PLAN = "reuse_plan.json"  # the reuse the current design follows (absent: a full design)
VALIDATION_DESIGN = "validation_design.json"
VALIDATION = "validation.json"
ONLINE_DESIGN = "online/online_design.json"
METHOD_DESIGN = "online/method_design.json"
METHOD_COMPARISON = "online/compare_methods.json"
REPORT = "report.html"
DATASET = "dataset"
FAILURES = "failures.jsonl"
PIPELINE_LOCK = "pipeline.lock"
EXPORTS = (VALIDATION, OPTIMAL_MIXTURE, REPORT)  # what ``mixtures run --out DIR`` copies


def project_file(config: ProjectConfig, name: str) -> Path:
    """``<storage.root>/<name>``."""
    return config.root / name
