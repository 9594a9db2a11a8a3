"""Online mixing methods beside the offline law's optimum, natural and uniform at the validation scale."""

import dagster as dg
import pandas as pd

from assets.metadata import image, markdown_table
from mixtures.online.compare import compare_methods, comparison_path
from mixtures.online.tracking import tracking_hooks
from mixtures.plots import validation_comparison
from mixtures.storage import atomic_write_json
from resources.project import ProjectResource

ALL_METHODS = ["doremi", "aioli", "dga", "reweight"]


@dg.asset(group_name="validation", deps=["optimal_mixture"],
          description="DoReMi, Aioli-style, gradient alignment and loss reweighting (online.methods, default all) "
                      "against natural, uniform and the offline optimum at the validation scale, with seeds, the "
                      "compute each method spent, and a verdict. Its own job (compare_methods_job): not in the "
                      "default pipeline run, as it trains every method at the validation scale.")
def method_comparison(context: dg.AssetExecutionContext, domain_catalog: pd.DataFrame, project: ProjectResource):
    config = project.load()
    methods = list(config.online.methods) or ALL_METHODS
    hooks = tracking_hooks(config, tags={"dagster.run_id": context.run.run_id,
                                         "dagster.asset": context.asset_key.to_user_string()})
    comparison = compare_methods(config, domain_catalog, methods, list(config.validation.seeds),
                                 log=context.log.info, **hooks)
    document = comparison.to_json()
    atomic_write_json(comparison_path(config), document)
    stats = comparison.stats().reset_index(names="method")
    return dg.Output(document, metadata={
        "verdict": dg.MetadataValue.md(comparison.verdict),
        "objective": dg.MetadataValue.md(markdown_table(stats)),
        "plot": image(validation_comparison(comparison.runs), "target objective per method"),
        "path": dg.MetadataValue.path(str(comparison_path(config))),
    })
