"""The domain_catalog asset on a real Dagster instance with a real MLflow sqlite store."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import yaml
from mlflow.tracking import MlflowClient

from assets import defs
from assets.corpus import domain_catalog
from resources import MlflowTracking, ProjectResource
from tests.corpus_factory import corpus_config


def _write_config(root, mlflow_uri, **overrides):
    cfg = corpus_config(root, **overrides)
    cfg["tracking"] = {"uri": mlflow_uri, "experiment": "t"}
    path = root / "project.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_definitions_load():
    repo = defs.get_repository_def()
    assert "domain_catalog" in {k.to_user_string() for k in repo.asset_graph.get_all_asset_keys()}


def test_catalog_materializes_and_logs_to_mlflow(corpus, mlflow_uri):
    root, texts = corpus
    path = _write_config(root, mlflow_uri)
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [domain_catalog], instance=instance,
            resources={"project": ProjectResource(config_path=str(path)), "tracking": MlflowTracking()},
        )
        assert result.success
        catalog = result.output_for_node("domain_catalog").set_index("domain")
        assert catalog.loc["code", "documents"] == len(texts["code"])
        checks = result.get_asset_check_evaluations()
        assert [(c.check_name, c.passed) for c in checks] == [("domains_readable", True)]
        mat = result.asset_materializations_for_node("domain_catalog")[0]
        assert mat.metadata["documents"].value == sum(len(t) for t in texts.values())
        run_id = result.run_id
    client = MlflowClient(tracking_uri=mlflow_uri)
    exp = client.get_experiment_by_name("t")
    runs = client.search_runs([exp.experiment_id], filter_string=f"tags.`dagster.run_id` = '{run_id}'")
    assert len(runs) == 1 and runs[0].data.metrics["tokens_code"] == catalog.loc["code", "tokens"]
    assert runs[0].data.tags["mlflow.parentRunId"]  # nested under the pipeline's run
    assert [a.path for a in client.list_artifacts(runs[0].info.run_id)] == ["catalog.csv"]  # bytes: no tokenizer file


def test_the_catalog_records_what_each_source_reveals_to_the_ot_law(corpus, mlflow_uri):
    from mixtures.corpus.revealed import revealed_texts
    from mixtures.config import load_config

    root, _ = corpus
    cfg = corpus_config(root)
    cfg["domains"][1]["revealed"] = 0.25  # code: a quarter of each split
    cfg["target"]["sets"][0]["revealed"] = 2  # mixed: two documents
    path = _write_config(root, mlflow_uri, domains=cfg["domains"], target=cfg["target"])
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [domain_catalog], instance=instance,
            resources={"project": ProjectResource(config_path=str(path)), "tracking": MlflowTracking()},
        )
        assert result.success
        shown = result.asset_materializations_for_node("domain_catalog")[0].metadata["revealed"].value
        run_id = result.run_id
    config = load_config(path)
    assert shown["code"]["train_docs"] == len(revealed_texts(config, "code", "train"))  # what the law will read
    assert shown["code"]["val_docs"] == len(revealed_texts(config, "code", "val"))
    assert shown["mixed"] == {"revealed": 2.0, "documents": 2} and set(shown) == {"code", "mixed"}
    client = MlflowClient(tracking_uri=mlflow_uri)
    run = client.search_runs([client.get_experiment_by_name("t").experiment_id],
                             filter_string=f"tags.`dagster.run_id` = '{run_id}'")[0]
    assert run.data.params["revealed.code"] == "0.25" and run.data.metrics["revealed_documents.mixed"] == 2
    assert run.data.metrics["revealed_train_docs.code"] == shown["code"]["train_docs"]


def test_a_trained_tokenizer_is_logged_with_the_catalog_it_counted(corpus, mlflow_uri):
    from mixtures.config import load_config
    from mixtures.tokenizers import tokenizer_file

    root, _ = corpus
    path = _write_config(root, mlflow_uri, corpus={"tokenizer": "bpe", "bpe_vocab_size": 300, "bpe_sample_mb": 0.05})
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [domain_catalog], instance=instance,
            resources={"project": ProjectResource(config_path=str(path)), "tracking": MlflowTracking()},
        )
        assert result.success
        run_id = result.run_id
    client = MlflowClient(tracking_uri=mlflow_uri)
    run = client.search_runs([client.get_experiment_by_name("t").experiment_id],
                             filter_string=f"tags.`dagster.run_id` = '{run_id}'")[0]
    local = tokenizer_file(load_config(path))
    assert [a.path for a in client.list_artifacts(run.info.run_id, "tokenizer")] == [f"tokenizer/{local.name}"]
    logged = Path(client.download_artifacts(run.info.run_id, f"tokenizer/{local.name}", str(root / "got")))
    assert logged.read_bytes() == local.read_bytes()


def test_broken_domain_fails_the_blocking_check(corpus, mlflow_uri):
    root, _ = corpus
    (root / "empty").mkdir()
    (root / "empty" / "e.jsonl").write_text("")
    cfg = corpus_config(root)
    cfg["domains"].append({"name": "empty", "paths": ["empty"]})
    cfg["tracking"] = {"uri": mlflow_uri, "experiment": "t"}
    path = root / "p2.yaml"
    path.write_text(yaml.safe_dump(cfg))
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [domain_catalog], instance=instance, raise_on_error=False,
            resources={"project": ProjectResource(config_path=str(path)), "tracking": MlflowTracking()},
        )
        checks = result.get_asset_check_evaluations()
        assert len(checks) == 1 and not checks[0].passed
        assert "empty" in checks[0].metadata["problems"].value
