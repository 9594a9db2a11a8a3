"""The tiny pipeline with ``storage.root`` on ``s3://``, against a real S3 API server (moto in server mode,
IAM signatures required; conftest's ``s3``), through ``mixtures run`` in a subprocess with the local launcher.

The run store, the proxy token cache, the checkpoints, the project's files and the dataset live in the
bucket; the corpus and MLflow stay local. One pipeline on S3, compared with the shared local pipeline of the
same config (conftest's ``local_pipeline``): the same losses bitwise, the same token cache bytes, the same
dataset shards, the manifest's sha256 values matching the objects, and no credential in any log, object,
manifest or MLflow param. A run whose result is lost resumes on "another machine" (a fresh scratch folder)
from the checkpoint in the bucket.
"""

from __future__ import annotations

import hashlib
import json
import shutil

import pandas as pd
import pytest
import yaml

from tests.engine_support import LOCAL_PIPELINE, cli_env, engine_config, loss_columns, run_cli, stored

pytestmark = pytest.mark.slow
BUCKET = "pipeline-store"
PREFIX = "project"


@pytest.fixture(scope="module")
def s3_pipeline(s3, tmp_path_factory, _migrated_mlflow_db):
    """``mixtures run`` of the shared local pipeline's config with ``storage.root: s3://BUCKET/project``:
    ``(root, config path, env, completed process)``."""
    root = tmp_path_factory.mktemp("s3-pipeline")
    shutil.copy(_migrated_mlflow_db, root / "mlflow.db")
    config = engine_config(root, f"sqlite:///{root / 'mlflow.db'}", **LOCAL_PIPELINE)
    data = yaml.safe_load(config.read_text())
    data["storage"] = {"root": f"s3://{BUCKET}/{PREFIX}"}
    config.write_text(yaml.safe_dump(data))
    s3.client().create_bucket(Bucket=BUCKET)
    env = cli_env(root, **s3.env(), MIXTURES_SCRATCH=str(root / "scratch"))
    done = run_cli(config, env, "--out", str(root / "out"), timeout=1800)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    return root, config, env, done


def _get(s3, key: str) -> bytes:
    return s3.client().get_object(Bucket=BUCKET, Key=key)["Body"].read()


def _remote_runs(s3, kind: str) -> dict[str, pd.DataFrame]:
    import io

    keys = s3.keys(BUCKET, f"{PREFIX}/runs/{kind}/")
    ids = sorted(k.split("/")[3] for k in keys if k.endswith("/result.json"))
    return {i: pd.read_parquet(io.BytesIO(_get(s3, f"{PREFIX}/runs/{kind}/{i}/result.parquet"))) for i in ids}


def test_a_pipeline_on_s3_keeps_runs_tokens_checkpoints_and_dataset_there_with_the_local_results(
        s3_pipeline, local_pipeline, s3):
    root, _, _, done = s3_pipeline
    local = local_pipeline[0] / ".mixtures"
    keys = s3.keys(BUCKET, f"{PREFIX}/")
    assert not (root / ".mixtures").exists()  # nothing of the project's store went to local disk
    for name in ("catalog.parquet", "proxy_design.parquet", "proxy_results.parquet", "law.json",
                 "optimal_mixture.json", "validation_design.json", "validation.json", "report.html"):
        assert f"{PREFIX}/{name}" in keys, name
    assert not [k for k in keys if k.endswith(".tmp")]  # every write was committed (no temporary key left)

    for kind in ("proxy", "validation"):
        mine, reference = _remote_runs(s3, kind), stored(local_pipeline[0], kind)
        assert set(mine) == set(reference) and mine
        for run_id, rows in reference.items():
            columns = ["n_tokens", *loss_columns(rows)]
            pd.testing.assert_frame_equal(mine[run_id][columns], rows[columns], check_exact=True)
            work = f"{PREFIX}/runs/{kind}/{run_id}/work"
            assert {f"{work}/checkpoint.pt", f"{work}/stdout.log", f"{work}/stderr.log"} <= set(keys)

    tokens = sorted((local / "cache" / "tokens").iterdir())
    assert tokens and sorted(k for k in keys if "/cache/tokens/" in k) == [f"{PREFIX}/cache/tokens/{p.name}" for p in tokens]
    for path in tokens:  # the cache on S3 holds the same bytes under the same content keys
        assert _get(s3, f"{PREFIX}/cache/tokens/{path.name}") == path.read_bytes(), path.name

    manifest = json.loads(_get(s3, f"{PREFIX}/dataset/manifest.json"))
    assert manifest["shards"]
    for entry in manifest["shards"]:
        assert hashlib.sha256(_get(s3, f"{PREFIX}/dataset/{entry['path']}")).hexdigest() == entry["sha256"]
    reference_manifest = json.loads((local / "dataset" / "manifest.json").read_text())
    assert [(e["path"], e["sha256"]) for e in manifest["shards"]] == [
        (e["path"], e["sha256"]) for e in reference_manifest["shards"]]
    verdict = _get(s3, f"{PREFIX}/validation.json")
    assert (root / "out" / "validation.json").read_bytes() == verdict  # --out copies it from the bucket
    mine, theirs = json.loads(verdict), json.loads((local / "validation.json").read_text())
    assert mine.pop("optimal_mlflow_run_id") and theirs.pop("optimal_mlflow_run_id")
    assert mine == theirs  # the same verdict, to the last digit

    texts = [done.stdout, done.stderr]
    texts += [_get(s3, k).decode("utf-8", "replace") for k in keys if k.endswith((".json", ".log", ".jsonl", ".html"))]
    texts += [p.read_text("utf-8", "replace") for p in root.rglob("*") if p.is_file() and p.suffix in (".log", ".json", ".jsonl")]
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{root / 'mlflow.db'}")
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()], max_results=1000)
    assert runs
    texts += [json.dumps({**r.data.params, **r.data.tags}) for r in runs]
    for secret in (s3.secret, s3.key):  # credentials never reach a log, an object, a manifest or MLflow
        assert not [t[:200] for t in texts if secret in t]


def test_a_run_whose_result_is_lost_resumes_on_another_machine_from_the_checkpoint_in_the_bucket(
        s3_pipeline, s3, monkeypatch, tmp_path):
    import s3fs

    from mixtures.config import load_config
    from mixtures.runs.execute import execute_planned

    _, config_path, env, _ = s3_pipeline
    run_id = sorted(_remote_runs(s3, "proxy"))[0]
    before = _remote_runs(s3, "proxy")[run_id]
    s3.client().delete_object(Bucket=BUCKET, Key=f"{PREFIX}/runs/proxy/{run_id}/result.json")
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL", "AWS_DEFAULT_REGION"):
        monkeypatch.setenv(key, env[key])
    monkeypatch.setenv("MIXTURES_SCRATCH", str(tmp_path / "another-machine"))
    monkeypatch.setenv("MIXTURES_TRAIN_THREADS", "1")
    s3fs.S3FileSystem.clear_instance_cache()
    logs: list[str] = []
    again = execute_planned(load_config(config_path), "proxy", run_id, log=logs.append)
    s3fs.S3FileSystem.clear_instance_cache()
    assert any("resuming at step" in line for line in logs), logs
    assert again.extra["resumed_from_step"] == again.extra["steps"]  # nothing trained again
    pd.testing.assert_frame_equal(again.rows[loss_columns(before)], before[loss_columns(before)], check_exact=True)
    assert f"{PREFIX}/runs/proxy/{run_id}/result.json" in s3.keys(BUCKET, f"{PREFIX}/runs/proxy/{run_id}/")
    assert list((tmp_path / "another-machine").rglob("*.train.u8"))  # its token copies came from the bucket
