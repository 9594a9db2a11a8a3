"""Jobs, and the order in which ``mixtures run`` executes them.

The graph has two dynamically partitioned steps (one partition per proxy run, one per dataset
domain), so the whole pipeline is a sequence of jobs: each partitioned job runs once per key.
"""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import dagster as dg


corpus_job = dg.define_asset_job("corpus_job", selection=["domain_catalog"], description="Catalog the corpus.")
design_job = dg.define_asset_job("design_job", selection=["proxy_design"], description="Design the proxy runs.")
proxy_job = dg.define_asset_job("proxy_job", selection=["proxy_runs"],
                                description="Train one proxy run (one partition).")
analysis_job = dg.define_asset_job(
    "analysis_job", selection=["proxy_results", "mixing_laws", "optimal_mixture", "validation_runs", "dataset_plan"],
    description="Gather proxy runs, fit laws, optimize, validate at a larger scale, plan the dataset.")
dataset_job = dg.define_asset_job("dataset_job", selection=["dataset_domains"],
                                  description="Index one domain of the mixed dataset (one partition).")
finish_job = dg.define_asset_job("finish_job", selection=["mixed_dataset", "mixture_report"],
                                 description="Write the mixed dataset and the comparison report.")
refit_job = dg.define_asset_job("refit_job", selection=["proxy_results", "mixing_laws", "optimal_mixture", "mixture_report"],
                                description="Refit the laws and re-optimize from the runs on hand; refresh the report.")

compare_methods_job = dg.define_asset_job(
    "compare_methods_job", selection=["method_comparison"],
    description="Online mixing methods vs the offline optimum and the baselines (mixtures compare-methods).")


def _no_partitions(instance: dg.DagsterInstance) -> list[str]:
    return []


def _proxy_keys(instance: dg.DagsterInstance) -> list[str]:
    """The partitions of the current design (older designs' partitions are left alone)."""
    import pandas as pd

    from assets.proxies import DESIGN_FILE
    from resources.project import ProjectResource

    path = ProjectResource().load().root / DESIGN_FILE
    return list(pd.read_parquet(path, columns=["run_id"])["run_id"].drop_duplicates()) if path.is_file() else []


def _dataset_keys(instance: dg.DagsterInstance) -> list[str]:
    import json

    from assets.optimize import MIXTURE_FILE
    from resources.project import ProjectResource

    path = ProjectResource().load().root / MIXTURE_FILE
    if not path.is_file():
        return []
    return [d for d, w in json.loads(path.read_text())["weights"].items() if w > 0]


def _export_verdict(out_dir: Path) -> None:
    import shutil

    from assets.validation import VERDICT_FILE
    from resources.project import ProjectResource

    root = ProjectResource().load().root
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in (VERDICT_FILE, "optimal_mixture.json", "report.html"):
        if (root / name).is_file():
            shutil.copyfile(root / name, out_dir / name)


def _no_export(out_dir: Path) -> None:
    return None


@dataclass(frozen=True)
class Stage:
    """One step of the whole pipeline: a job, run once or once per partition key."""

    job_name: str
    partition_keys: Callable[[dg.DagsterInstance], list[str]] = _no_partitions
    export: Callable[[Path], None] = _no_export
    partitioned: bool = False
    tolerate_failures: bool = False  # a failed partition is reported, the others go on (proxy runs)


PIPELINE_STAGES = [
    Stage("corpus_job"),
    Stage("design_job"),
    Stage("proxy_job", _proxy_keys, partitioned=True, tolerate_failures=True),
    Stage("analysis_job", export=_export_verdict),
    Stage("dataset_job", _dataset_keys, partitioned=True),
    Stage("finish_job", export=_export_verdict),
]
JOBS = [corpus_job, design_job, proxy_job, analysis_job, dataset_job, finish_job, refit_job, compare_methods_job]
