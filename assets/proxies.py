"""Proxy runs: the design of experiments, one dynamic partition per proxy run, and their table.

Each partition trains one proxy (design x scale x seed), logs one MLflow run and writes its
rows (one per eval point) to ``<root>/proxy_runs/<run_id>.parquet``. A partition whose file
already holds the same spec is reused, so a rerun of the pipeline resumes where it stopped.
``proxy_results`` reads the files of the current design (failed runs have none) plus imported
tables, so one failed run never blocks the laws.
"""


import dagster as dg
import numpy as np
import pandas as pd

from assets.metadata import image, markdown_table, table
from mixtures.runs import RunSpec
from mixtures.design import design_frame, design_runs, spec_from_frame
from mixtures.plots import loss_vs_weight, mixture_bars
from mixtures.proxy_store import (
    EXTERNAL_DIR,
    collect_results,
    read_run_rows,
    result_path,
    unigram_baseline_of,
    write_run_rows,
)
from mixtures.storage import atomic_write_frame
from mixtures.trainers import train_proxy
from mixtures.trainers.tracking import log_training_run
from resources.project import ProjectResource
from resources.tracking import MlflowTracking

PROXY_PARTITIONS = dg.DynamicPartitionsDefinition(name="proxy_runs")
DESIGN_FILE = "proxy_design.parquet"
RESULTS_FILE = "proxy_results.parquet"


@dg.asset(group_name="proxies", description="The mixtures to try (natural, uniform, RegMix-style Dirichlet "
          "samples) x proxy scales x seeds; registers one proxy_runs partition per run.")
def proxy_design(context: dg.AssetExecutionContext, domain_catalog: pd.DataFrame, project: ProjectResource):
    config = project.load()
    specs = design_runs(config, domain_catalog)
    frame = design_frame(specs)
    atomic_write_frame(config.root / DESIGN_FILE, frame)
    known = set(context.instance.get_dynamic_partitions(PROXY_PARTITIONS.name))
    new = [s.run_id for s in specs if s.run_id not in known]
    if new:
        context.instance.add_dynamic_partitions(PROXY_PARTITIONS.name, new)
    mixtures = frame.drop_duplicates("mixture_name")
    weights = {row.mixture_name: {d: getattr(row, f"w_{d}") for d in config.domain_names}
               for row in mixtures.itertuples()}
    return dg.Output(frame, metadata={
        "runs": len(specs),
        "mixtures": len(mixtures),
        "new_partitions": len(new),
        "design": table(frame),
        "mixtures_plot": image(mixture_bars(dict(list(weights.items())[:12]), title="design mixtures"), "design mixtures"),
    })


def _log_run(tracking: MlflowTracking, context, config, spec: RunSpec, result) -> str:
    with tracking.run(context, spec.run_id, config, tags={
        "mixtures.role": "proxy_run", "mixtures.mixture_name": spec.mixture_name, "mixtures.status": result.status,
    }) as run:
        log_training_run(run, spec, result, config.proxy.trainer, metrics={
            "seconds": result.seconds, **{k: v for k, v in result.extra.items() if isinstance(v, (int, float))}})
        return run.url


@dg.asset(
    group_name="proxies",
    partitions_def=PROXY_PARTITIONS,
    retry_policy=dg.RetryPolicy(max_retries=2, delay=2),
    check_specs=[dg.AssetCheckSpec("finite_and_below_unigram", asset="proxy_runs", blocking=False,
                                   description="every loss is finite and below the unigram baseline of its data")],
    description="One proxy training run per partition (design x scale x seed); one MLflow run each.",
)
def proxy_runs(context: dg.AssetExecutionContext, domain_catalog: pd.DataFrame, proxy_design: pd.DataFrame,
               project: ProjectResource, tracking: MlflowTracking):
    config = project.load()
    spec = spec_from_frame(proxy_design, context.partition_key)
    path = result_path(config, spec.run_id)
    rows = read_run_rows(path, spec)
    reused = rows is not None
    if rows is None:
        result = train_proxy(config, spec, domain_catalog, config.root / "proxy_work" / spec.run_id,
                             log=context.log.info)
        url = _log_run(tracking, context, config, spec, result)
        if result.status != "finished":
            raise dg.Failure(description=f"proxy run {spec.run_id} failed: {result.reason}",
                             metadata={"mlflow_run": dg.MetadataValue.url(url)}, allow_retries=False)
        rows = result.table
        write_run_rows(path, rows, spec, extra=result.extra)
    final = rows.sort_values("n_tokens").iloc[-1]
    losses = {k: float(final[k]) for k in rows.columns if str(k).startswith("loss_") and k != "loss_unit"}
    baseline = unigram_baseline_of(path)
    problems = trained_data_problems(losses, baseline, spec.weights)
    yield dg.Output(rows, metadata={
        "reused": reused,
        "final_losses": dg.MetadataValue.md(markdown_table(pd.DataFrame(
            {"loss": list(losses), "bits_per_byte": list(losses.values()),
             "unigram": [baseline.get(k, float("nan")) for k in losses]}))),
        "path": dg.MetadataValue.path(str(path)),
    })
    yield dg.AssetCheckResult(check_name="finite_and_below_unigram", passed=not problems,
                              severity=dg.AssetCheckSeverity.WARN,
                              metadata={"problems": dg.MetadataValue.md("\n".join(f"- {p}" for p in problems) or "none")})


def trained_data_problems(losses: dict[str, float], baseline: dict[str, float], weights: dict[str, float]) -> list[str]:
    """Why a finished run looks broken: a non-finite loss, or a loss on the data it trained on (the
    training domains weighted by the mixture) not below the unigram baseline of that data. A domain the
    mixture barely samples may stay above its unigram baseline early on; that is no fault of the run."""
    problems = [f"{k} = {v}" for k, v in losses.items() if pd.notna(v) and not np.isfinite(v)]
    trained = {f"loss_{d}": w for d, w in weights.items()
               if w > 0 and pd.notna(losses.get(f"loss_{d}")) and f"loss_{d}" in baseline}
    if not trained:
        return problems + ["no loss measured on any training domain"]
    total = sum(trained.values())
    model = sum(w * losses[k] for k, w in trained.items()) / total
    unigram = sum(w * baseline[k] for k, w in trained.items()) / total
    if not model < unigram:
        problems.append(f"loss on the training mixture {model:.4f} bits/byte is not below its unigram baseline {unigram:.4f}")
    return problems


@dg.asset(group_name="proxies", deps=[proxy_runs],
          description="All finished proxy runs of the current design, plus imported and externally dropped runs.")
def proxy_results(context: dg.AssetExecutionContext, proxy_design: pd.DataFrame, project: ProjectResource):
    config = project.load()
    results, sources = collect_results(config, proxy_design)
    atomic_write_frame(config.root / RESULTS_FILE, results)
    expected = proxy_design["run_id"].nunique()
    finished = sources.get("builtin", 0)
    if results.empty:
        raise dg.Failure(description="no finished proxy run yet: materialize the proxy_runs partitions first "
                                     f"(or drop run tables into {config.root / EXTERNAL_DIR}).")
    final = results.sort_values("n_tokens").groupby("run_id").tail(1)
    return dg.Output(results, metadata={
        "runs": int(results["run_id"].nunique()),
        "rows": len(results),
        "design_runs_finished": f"{finished} of {expected}",
        "sources": dg.MetadataValue.json(sources),
        "loss_vs_weight": image(loss_vs_weight(final), "final loss vs weight"),
        "path": dg.MetadataValue.path(str(config.root / RESULTS_FILE)),
    })
