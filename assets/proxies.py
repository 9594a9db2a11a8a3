"""Proxy runs: the design of experiments, one dynamic partition per proxy run, and their table.

``proxy_design`` plans every run in the run store and registers its partition; ``proxy_runs`` trains
one partition (or reuses its stored result); ``proxy_results`` gathers the finished runs of the current
design plus imported tables, so one failed run never blocks the laws.
"""

import dagster as dg
import pandas as pd

from assets.freshness import EXTERNAL_METADATA, external_state
from assets.metadata import image, table
from assets.partitions import PROXY_PARTITIONS, register
from assets.training import training_asset
from mixtures.design import design_frame, design_runs, is_repeat
from mixtures.evaluation.decision import write_repeats
from mixtures.reuse.decide import decide, reuse_runs, save_plan
from mixtures.layout import PROXY_DESIGN, PROXY_RESULTS, project_file
from mixtures.plots import loss_vs_weight, mixture_bars
from mixtures.runs.imports import EXTERNAL_DIR, results_table
from mixtures.runs.store import RunStore
from mixtures.storage import atomic_write_frame
from resources.project import ProjectResource


@dg.asset(group_name="proxies", description="The mixtures to try (natural, uniform, RegMix-style Dirichlet "
          "samples) x proxy scales x seeds; plans each run and registers one proxy_runs partition per run.")
def proxy_design(context: dg.AssetExecutionContext, domain_catalog: pd.DataFrame, project: ProjectResource):
    config = project.load()
    plan = decide(config, domain_catalog)
    specs = reuse_runs(config, domain_catalog, plan) if plan is not None else design_runs(config, domain_catalog)
    store = RunStore(config.root)
    finished = [store.finished(s) is not None for s in specs]  # before planning: which runs are reused, which new
    stored = sum(finished)
    changed = store.plan(specs)
    frame = design_frame(specs)
    atomic_write_frame(project_file(config, PROXY_DESIGN), frame)
    save_plan(config, plan)
    new = register(context, PROXY_PARTITIONS, [s.run_id for s in specs])
    mixtures = frame.drop_duplicates("mixture_name")
    weights = {row.mixture_name: {d: getattr(row, f"w_{d}") for d in config.domain_names}
               for row in mixtures.itertuples()}
    return dg.Output(frame, metadata={
        "runs": len(specs),
        "mixtures": len(mixtures),
        "new_partitions": len(new),
        "changed_specs": len(changed),
        "reuse": plan.message() if plan is not None else f"full design (reuse: {config.reuse})",
        "runs_reused": stored,
        "runs_new": len(specs) - stored,
        "design": table(frame.assign(run=["reused" if f else "new" for f in finished])),
        "mixtures_plot": image(mixture_bars(dict(list(weights.items())[:12]), title="design mixtures"), "design mixtures"),
    })


proxy_runs = training_asset(
    "proxy", name="proxy_runs", group="proxies", deps=["proxy_design"],
    description="One proxy training run per partition (design x scale x seed), launched by the environment's "
                "launcher; one MLflow run each.")


@dg.asset(group_name="proxies", deps=[proxy_runs],
          description="All finished proxy runs of the current design, plus imported and externally dropped runs.")
def proxy_results(context: dg.AssetExecutionContext, proxy_design: pd.DataFrame, project: ProjectResource):
    config = project.load()
    tables = external_state(config)
    store = RunStore(config.root)
    every = [store.spec("proxy", run_id) for run_id in proxy_design["run_id"].drop_duplicates()]
    specs = [s for s in every if not is_repeat(config, s)]
    results, sources = results_table(config, store, specs)
    if results.empty:
        raise dg.Failure(description="no finished proxy run yet: materialize the proxy_runs partitions first "
                                     f"(or drop run tables into {config.root / EXTERNAL_DIR}).")
    atomic_write_frame(project_file(config, PROXY_RESULTS), results)
    repeats = write_repeats(config, store, [s for s in every if is_repeat(config, s)])
    final = results.sort_values("n_tokens").groupby("run_id").tail(1)
    return dg.Output(results, metadata={
        "runs": int(results["run_id"].nunique()),
        "rows": len(results),
        "noise_floor_repeats": repeats,
        "design_runs_finished": f"{sum(v for k, v in sources.items() if k in ('builtin', 'command'))} of {len(specs)}",
        "sources": dg.MetadataValue.json(sources),
        EXTERNAL_METADATA: dg.MetadataValue.json(tables),
        "loss_vs_weight": image(loss_vs_weight(final), "final loss vs weight"),
        "path": dg.MetadataValue.path(str(project_file(config, PROXY_RESULTS))),
    })
