"""Jobs, and the order in which ``mixtures run`` executes them."""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

corpus_job = dg.define_asset_job("corpus_job", selection=["domain_catalog"], description="Catalog the corpus.")


def _no_partitions(defs: dg.Definitions, instance: dg.DagsterInstance) -> list[str]:
    return []


def _no_export(defs: dg.Definitions, instance: dg.DagsterInstance, out_dir: Path) -> None:
    return None


@dataclass(frozen=True)
class Stage:
    """One step of the whole pipeline: a job, run once or once per partition key."""

    job_name: str
    partition_keys: Callable[[dg.Definitions, dg.DagsterInstance], list[str]] = _no_partitions
    export: Callable[[dg.Definitions, dg.DagsterInstance, Path], None] = _no_export


PIPELINE_STAGES = [Stage("corpus_job")]
JOBS = [corpus_job]
