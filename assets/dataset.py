"""The mixed dataset: planned once, indexed per domain (one dynamic partition each, so an executor
can fan the reading out), then shuffled into shards with a manifest and renamed into place."""


import dagster as dg
import pandas as pd

from assets.metadata import markdown_table
from assets.partitions import DATASET_PARTITIONS, register
from mixtures.layout import DATASET, OPTIMAL_MIXTURE, project_file
from mixtures.resample.checks import manifest_problems
from mixtures.resample.inputs import ConfigReader, corpus_fingerprint, dsir_target_batches
from mixtures.resample.materialize import (
    Request,
    Workspace,
    assemble,
    index_domain,
    make_plan,
    prepare_target,
    score_domain,
    token_layout,
    tokenizer_record,
    write_shard,
)
from mixtures.resample.materialize.driver import with_tokenizer
from mixtures.tokenizers import project_tokenizer
from mixtures.resample.parallel import ordered_map
from mixtures.storage import isfile, read_json
from resources.project import ProjectResource

DATASET_DIR = DATASET


def dataset_keys(config) -> list[str]:
    """The dataset's partitions: the optimal mixture's domains with weight > 0."""
    path = project_file(config, OPTIMAL_MIXTURE)
    if not isfile(path):
        return []
    return [d for d, w in read_json(path)["weights"].items() if w > 0]


def dataset_request(config, optimal: dict) -> Request:
    """The materialization request for the optimal mixture (sizes from the config's ``dataset``)."""
    mixture = optimal["weights"]
    used = [d for d, w in mixture.items() if w > 0]
    request = Request.from_config(config, mixture, mixture_run=optimal.get("mlflow_run_id"),
                                  corpus_fingerprint=corpus_fingerprint(config, used))
    return with_tokenizer(request, project_tokenizer(config))


@dg.asset(group_name="dataset", description="The materialization request for the optimal mixture; begins the work "
          "folder and registers one dataset_domains partition per drawn domain.")
def dataset_plan(context: dg.AssetExecutionContext, optimal_mixture: dict, project: ProjectResource) -> dict:
    config = project.load()
    request = dataset_request(config, optimal_mixture)
    ws = Workspace(config.root / DATASET_DIR)
    if ws.begin(request, overwrite=True) is None and request.dsir is not None:
        prepare_target(ws, request, dsir_target_batches(config))
    register(context, DATASET_PARTITIONS, list(request.domains))
    return request.to_dict()


@dg.asset(group_name="dataset", partitions_def=DATASET_PARTITIONS, pool="dataset",
          description="One domain read once: documents spilled, sizes (and DSIR features) indexed.")
def dataset_domains(context: dg.AssetExecutionContext, dataset_plan: dict, project: ProjectResource) -> dict:
    config = project.load()
    request = Request.from_dict(dataset_plan)
    ws = Workspace(config.root / DATASET_DIR)
    domain = context.partition_key
    if ws.finished_manifest(request) is not None or domain not in request.domains:
        return {"domain": domain, "skipped": True}
    index = index_domain(ws, request, domain, ConfigReader(config), project_tokenizer(config))
    return {"domain": domain, "documents": int(len(index.n_bytes)), "bytes": int(index.n_bytes.sum())}


@dg.asset(group_name="dataset", deps=[dataset_domains],
          check_specs=[dg.AssetCheckSpec("manifest_matches_mixture", asset="mixed_dataset", blocking=True)],
          description="The resampled training set: shuffled shards (parquet, jsonl, megatron or hf) + manifest.json, "
                      "written atomically.")
def mixed_dataset(context: dg.AssetExecutionContext, dataset_plan: dict, optimal_mixture: dict, project: ProjectResource):
    config = project.load()
    request = Request.from_dict(dataset_plan)
    ws = Workspace(config.root / DATASET_DIR)
    manifest = ws.finished_manifest(request)
    if manifest is None:
        ws.begin(request, overwrite=True)
        reader = ConfigReader(config)
        tokenizer = project_tokenizer(config)
        for domain in request.domains:  # cached: the partitions did the reading already
            index_domain(ws, request, domain, reader, tokenizer)
        if request.dsir is not None:
            prepare_target(ws, request, dsir_target_batches(config))
            for domain in request.domains:
                score_domain(ws, request, domain)
        plan = make_plan(ws, request)
        context.log.info(f"plan: {plan.total_rows} documents in {plan.n_shards} shards")
        layout = token_layout(tokenizer) if request.tokenized else None
        list(ordered_map(_write, [(ws, request, plan, s, layout) for s in range(plan.n_shards)], n_jobs=1))
        manifest = assemble(ws, request, plan, layout, tokenizer_record(tokenizer))
    problems = manifest_problems(manifest, request.mixture)
    rows = [{"domain": d, **{k: v for k, v in info.items() if not isinstance(v, dict)}} for d, info in manifest["domains"].items()]
    yield dg.Output(manifest, metadata={
        "documents": manifest["totals"]["documents"],
        "bytes": manifest["totals"]["bytes"],
        "shards": len(manifest["shards"]),
        "domains": dg.MetadataValue.md(markdown_table(pd.DataFrame(rows))),
        "mixture_run": str(manifest.get("mixture_run")),
        "path": dg.MetadataValue.path(ws.shown),
    })
    yield dg.AssetCheckResult(check_name="manifest_matches_mixture", passed=not problems,
                              metadata={"problems": dg.MetadataValue.md("\n".join(f"- {p}" for p in problems) or "none")})


def _write(args: tuple) -> dict:
    ws, request, plan, shard, layout = args
    return write_shard(ws, request, plan, shard, layout)
