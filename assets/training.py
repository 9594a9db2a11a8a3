"""Training runs as partitions: one asset body for proxy, validation and online runs.

Each partition is one planned :class:`~mixtures.runs.RunSpec` in the run store. Materializing it
reuses the stored result when the spec is unchanged, else launches the run with the environment's
launcher (a subprocess, a Slurm job, a Kubernetes Job), then logs it to MLflow once. Every training
asset is in the concurrency pool ``train`` (``MIXTURES_TRAIN_POOL``), so the instance's pool limit caps
how many trainings run at once, and a cancelled or preempted job is retried and resumes.
"""


import os

import dagster as dg
import pandas as pd

from assets.metadata import markdown_table
from assets.partitions import TRAINING_PARTITIONS
from mixtures.evaluation.checks import trained_data_problems
from mixtures.runs.store import RunStore, StoredRun
from resources.launchers import TRAIN_POOL, LaunchRequest, TrainingLauncher
from resources.project import ProjectResource
from resources.tracking import MlflowTracking

RETRIES = int(os.environ.get("MIXTURES_RUN_RETRIES", "2"))
CHECK = "finite_and_below_unigram"


def _objective(config, stored: StoredRun) -> float:
    """The run's target objective at its last eval point (NaN when a target was not measured)."""
    from mixtures.corpus import natural_mixture
    from mixtures.errors import MixturesError
    from mixtures.layout import CATALOG, read_frame
    from mixtures.objective import objective_of, objective_weights

    weights = objective_weights(config, natural_mixture(read_frame(config, CATALOG)))
    try:
        return float(objective_of(stored.final_losses(), weights))
    except MixturesError:
        return float("nan")


def _log(tracking: MlflowTracking, context, config, stored: StoredRun) -> str:
    from mixtures.trainers.tracking import log_training_run

    spec = stored.spec
    tags = {"mixtures.role": f"{spec.kind}_run", "mixtures.mixture_name": spec.mixture_name, "mixtures.status": "finished"}
    if spec.method:
        tags["mixtures.online_method"] = spec.method
    with tracking.run(context, spec.run_id, config, tags=tags) as run:
        if spec.kind == "online":
            from mixtures.online.tracking import log_online

            log_online(run, stored)
        else:
            log_training_run(run, spec, stored.rows, metrics={
                "objective": _objective(config, stored), "seconds": stored.extra.get("seconds", float("nan")),
                "tokens_per_s": stored.extra.get("tokens_per_s", float("nan"))})
        return run.run_id


def training_asset(kind: str, *, name: str, group: str, deps: list[str], description: str) -> dg.AssetsDefinition:
    """The partitioned asset whose partitions are the planned ``kind`` runs."""

    @dg.asset(
        name=name, group_name=group, partitions_def=TRAINING_PARTITIONS[kind], deps=deps, pool=TRAIN_POOL,
        retry_policy=dg.RetryPolicy(max_retries=RETRIES, delay=1),
        check_specs=[dg.AssetCheckSpec(CHECK, asset=name, blocking=False,
                                       description="every loss is finite and below the unigram baseline of its data")],
        description=description,
    )
    def _training(context: dg.AssetExecutionContext, project: ProjectResource, tracking: MlflowTracking,
                  launcher: TrainingLauncher):
        config = project.load()
        store = RunStore(config.root)
        spec = store.spec(kind, context.partition_key)
        stored = store.finished(spec)
        reused = stored is not None
        where = "store"
        if stored is None:
            request = LaunchRequest(spec, store, config, project.config_file(), project.work_folder())
            where = launcher.launch(context, request)
            stored = store.finished(spec)
            if stored is None:
                raise dg.Failure(f"{kind} run {spec.run_id}: the launcher reported success but the run store has no "
                                 f"result in {store.folder(kind, spec.run_id)}", allow_retries=True)
        if stored.mlflow_run_id is None:
            store.mark_logged(stored, _log(tracking, context, config, stored))
        losses = stored.final_losses()
        baseline = stored.unigram_baseline
        problems = trained_data_problems(losses, baseline, spec.weights)
        yield dg.MaterializeResult(metadata={
            "reused": reused,
            "launcher": where,
            "mixture": spec.mixture_name,
            "threads": spec.threads,
            "final_losses": dg.MetadataValue.md(markdown_table(pd.DataFrame(
                {"loss": list(losses), "bits_per_byte": list(losses.values()),
                 "unigram": [baseline.get(k, float("nan")) for k in losses]}))),
            "mlflow_run_id": str(stored.mlflow_run_id),
            "path": dg.MetadataValue.path(str(stored.folder)),
        })
        yield dg.AssetCheckResult(check_name=CHECK, passed=not problems, severity=dg.AssetCheckSeverity.WARN,
                                  metadata={"problems": dg.MetadataValue.md("\n".join(f"- {p}" for p in problems)
                                                                            or "none")})

    return _training
