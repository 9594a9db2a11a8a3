"""The domain catalog asset and its check."""

import dagster as dg
import pandas as pd

from assets.freshness import FILES_METADATA, files_digest
from assets.metadata import markdown_table, table
from mixtures.corpus import build_catalog, natural_mixture
from mixtures.corpus.revealed import revealed_documents
from mixtures.layout import CATALOG, project_file
from mixtures.storage import atomic_write_frame
from mixtures.tokenizers import tokenizer_file
from resources.project import ProjectResource
from resources.tracking import MlflowTracking


@dg.asset(
    group_name="corpus",
    check_specs=[dg.AssetCheckSpec("domains_readable", asset="domain_catalog", blocking=True,
                                   description="every domain and target set is non-empty and readable")],
    description="Per domain: files, documents, bytes, tokens, train/val split (by document-id hash).",
)
def domain_catalog(context: dg.AssetExecutionContext, project: ProjectResource, tracking: MlflowTracking):
    config = project.load()
    files = files_digest(config)  # before reading: a file changed meanwhile is seen as a change
    catalog = build_catalog(config, on_error="record")
    atomic_write_frame(project_file(config, CATALOG), catalog)
    broken = catalog[catalog["error"] != ""]
    shown = catalog.drop(columns=["content_sha256", "error"])
    natural = natural_mixture(catalog) if broken.empty else {}
    revealed = revealed_documents(config, catalog)  # empty unless a domain or target set sets revealed
    with tracking.run(context, "domain_catalog", config, tags={"mixtures.role": "domain_catalog"}) as run:
        run.log_params({"domains": ",".join(config.domain_names), "val_fraction": config.corpus.val_fraction})
        run.log_metrics({f"tokens_{r.domain}": r.tokens for r in catalog.itertuples()})
        run.log_table(catalog, "catalog.csv")
        if revealed:  # what the ot law sees of each source: the configured size and the documents it reveals
            run.log_params({f"revealed.{name}": r["revealed"] for name, r in revealed.items()})
            run.log_metrics({f"revealed_{key}.{name}": v for name, r in revealed.items()
                             for key, v in r.items() if key != "revealed"})
        if (tokenizer := tokenizer_file(config)) is not None:  # bpe / hf: the file the token counts came from
            run.log_artifact(tokenizer, "tokenizer")
        url = run.url
    yield dg.Output(
        catalog,
        metadata={
            "catalog": table(shown),
            "documents": int(catalog["documents"].sum()),
            "tokens": int(catalog["tokens"].sum()),
            "natural_mixture": dg.MetadataValue.md(
                markdown_table(pd.DataFrame({"domain": list(natural), "weight": list(natural.values())}))
            ) if natural else "n/a (broken domains)",
            "mlflow_run": dg.MetadataValue.url(url),
            **({"revealed": dg.MetadataValue.json(revealed)} if revealed else {}),
            FILES_METADATA: files,
            "path": dg.MetadataValue.path(str(project_file(config, CATALOG))),
        },
    )
    yield dg.AssetCheckResult(
        check_name="domains_readable",
        passed=broken.empty,
        metadata={"problems": dg.MetadataValue.md(
            "\n".join(f"- **{r.domain}**: {r.error}" for r in broken.itertuples()) or "none")},
    )
