"""Online mixing methods beside the offline law's optimum, natural and uniform at the validation scale.

Not part of the default pipeline (``mixtures compare-methods`` runs it): ``online_design`` plans one
online run per method (``online.methods``, default all) and registers its ``online_runs`` partition;
``method_design`` plans the comparison's validation runs as ``validation_runs`` partitions (natural,
uniform and the optimum are the pipeline's own runs, reused); ``method_comparison`` judges them.
"""

import dagster as dg
import pandas as pd

from assets.metadata import image, markdown_table
from assets.partitions import ONLINE_PARTITIONS, VALIDATION_PARTITIONS, register
from assets.training import training_asset
from mixtures.layout import METHOD_COMPARISON, METHOD_DESIGN, ONLINE_DESIGN, project_file
from mixtures.online import ONLINE_METHODS
from mixtures.online.compare import compare_methods, comparison_design, online_specs
from mixtures.plots import validation_comparison
from mixtures.runs import RunSpec
from mixtures.runs.store import RunStore
from mixtures.storage import atomic_write_json
from resources.project import ProjectResource


class ComparisonConfig(dg.Config):
    """Which methods and seeds to compare (empty: ``online.methods`` or all; ``validation.seeds``)."""

    methods: list[str] = []
    seeds: list[int] = []


def _methods(config, chosen: ComparisonConfig) -> list[str]:
    return list(chosen.methods) or list(config.online.methods) or ONLINE_METHODS.names()


@dg.asset(group_name="online", description="One online run per method (online.methods, default all): registers "
          "its online_runs partition.")
def online_design(context: dg.AssetExecutionContext, config: ComparisonConfig, domain_catalog: pd.DataFrame,
                  project: ProjectResource) -> dict:
    chosen, config = config, project.load()
    specs = online_specs(config, domain_catalog, _methods(config, chosen))
    RunStore(config.root).plan(specs)
    register(context, ONLINE_PARTITIONS, [s.run_id for s in specs])
    document = {"runs": [s.record() for s in specs]}
    atomic_write_json(project_file(config, ONLINE_DESIGN), document)
    return document


online_runs = training_asset(
    "online", name="online_runs", group="online", deps=["online_design"],
    description="One online proxy run per partition: the method reweights the mixture while it trains.")


@dg.asset(group_name="online", deps=[online_runs],
          description="The comparison's validation runs: every online mixture beside natural, uniform and the "
                      "offline optimum at the validation scale, per seed (validation_runs partitions).")
def method_design(context: dg.AssetExecutionContext, config: ComparisonConfig, domain_catalog: pd.DataFrame,
                  project: ProjectResource) -> dict:
    chosen, config = config, project.load()
    store = RunStore(config.root)
    design = comparison_design(config, domain_catalog, store, _methods(config, chosen),
                               list(chosen.seeds) or list(config.validation.seeds))
    specs = [RunSpec.from_record(r) for r in design["runs"]]
    store.plan(specs)
    new = register(context, VALIDATION_PARTITIONS, [s.run_id for s in specs])
    atomic_write_json(project_file(config, METHOD_DESIGN), design)
    context.add_output_metadata({"runs": len(specs), "new_partitions": len(new)})
    return design


@dg.asset(group_name="online", deps=["validation_runs"],
          description="DoReMi, Aioli-style, gradient alignment and loss reweighting against natural, uniform and the "
                      "offline optimum at the validation scale, with seeds, the compute each method spent, and a verdict.")
def method_comparison(context: dg.AssetExecutionContext, method_design: dict, project: ProjectResource) -> dict:
    config = project.load()
    comparison = compare_methods(RunStore(config.root), method_design)
    document = comparison.to_json()
    atomic_write_json(project_file(config, METHOD_COMPARISON), document)
    stats = comparison.stats().reset_index(names="method")
    context.add_output_metadata({
        "verdict": dg.MetadataValue.md(comparison.verdict),
        "objective": dg.MetadataValue.md(markdown_table(stats)),
        "plot": image(validation_comparison(comparison.runs), "target objective per method"),
        "path": dg.MetadataValue.path(str(project_file(config, METHOD_COMPARISON))),
    })
    return document
