"""Jobs, and the stages in which ``mixtures run`` and ``mixtures compare-methods`` execute them.

A stage is one job: run once on the driver (the unpartitioned steps), or, for a partitioned job, once per
partition key as Dagster runs queued on the instance (a backfill the daemon launches under the pool
limits). Training jobs execute in-process inside their run worker, so a run is one process plus the
training it launches.
"""

from collections.abc import Callable
from dataclasses import dataclass

import dagster as dg

corpus_job = dg.define_asset_job("corpus_job", selection=["domain_catalog"], description="Catalog the corpus.")
reuse_job = dg.define_asset_job(
    "reuse_job", selection=["domain_catalog", "proxy_design"],
    description="Catalog the changed corpus and design its reuse swarm (proxy_partitions_sensor then trains it and "
                "runs the analysis).")
design_job = dg.define_asset_job("design_job", selection=["proxy_design"], description="Design the proxy runs.")
proxy_job = dg.define_asset_job("proxy_job", selection=["proxy_runs"],
                                executor_def=dg.in_process_executor, description="Train one proxy run (one partition).")
analysis_job = dg.define_asset_job(
    "analysis_job", selection=["proxy_results", "mixing_laws", "optimal_mixture", "validation_design"],
    description="Gather proxy runs, fit laws, optimize, plan the validation runs.")
validation_job = dg.define_asset_job("validation_job", selection=["validation_runs"],
                                     executor_def=dg.in_process_executor,
                                     description="Train one validation run (one partition).")
verdict_job = dg.define_asset_job("verdict_job", selection=["validation_verdict", "dataset_plan"],
                                  description="Judge the validation runs; plan the dataset.")
dataset_job = dg.define_asset_job("dataset_job", selection=["dataset_domains"],
                                  executor_def=dg.in_process_executor,
                                  description="Index one domain of the mixed dataset (one partition).")
finish_job = dg.define_asset_job("finish_job", selection=["mixed_dataset", "mixture_report"],
                                 description="Write the mixed dataset and the comparison report.")
refit_job = dg.define_asset_job("refit_job", selection=["proxy_results", "mixing_laws", "optimal_mixture", "mixture_report"],
                                description="Refit the laws and re-optimize from the runs on hand; refresh the report.")
online_design_job = dg.define_asset_job("online_design_job", selection=["online_design"],
                                        description="Plan one online run per method.")
online_job = dg.define_asset_job("online_job", selection=["online_runs"],
                                 executor_def=dg.in_process_executor, description="Train one online run (one partition).")
method_design_job = dg.define_asset_job("method_design_job", selection=["method_design"],
                                        description="Plan the validation runs of the method comparison.")
comparison_job = dg.define_asset_job("comparison_job", selection=["method_comparison"],
                                     description="Judge the online methods against the baselines.")


@dataclass(frozen=True)
class Stage:
    """One step of a pipeline: a job, run once, or once per key of ``partitions`` (the keys the stage's
    design planned: :func:`assets.pipeline.stage_keys`)."""

    job_name: str
    partitions: str | None = None          # a training kind ("proxy", ...) or "dataset"
    tolerate_failures: bool = False        # a failed partition is reported, the others go on (proxy runs)
    exports: bool = False                  # copy the verdict files to --out after this stage
    keys: Callable | None = None


PIPELINE_STAGES = [
    Stage("corpus_job"),
    Stage("design_job"),
    Stage("proxy_job", partitions="proxy", tolerate_failures=True),
    Stage("analysis_job"),
    Stage("validation_job", partitions="validation"),
    Stage("verdict_job", exports=True),
    Stage("dataset_job", partitions="dataset"),
    Stage("finish_job", exports=True),
]
COMPARISON_STAGES = [
    Stage("corpus_job"),
    Stage("online_design_job"),
    Stage("online_job", partitions="online"),
    Stage("method_design_job"),
    Stage("validation_job", partitions="method_validation"),
    Stage("comparison_job"),
]
JOBS = [corpus_job, reuse_job, design_job, proxy_job, analysis_job, validation_job, verdict_job, dataset_job, finish_job,
        refit_job, online_design_job, online_job, method_design_job, comparison_job]
