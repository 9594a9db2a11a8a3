"""Shared pytest fixtures: a small real corpus and its project config."""

from __future__ import annotations

from pathlib import Path

import pytest

from mixtures.config import parse_config
from tests.corpus_factory import corpus_config, make_corpus

# Modules that read the local pipeline's folder while test_pipeline reruns it: under pytest-xdist they run on one
# worker, one after the other. (Other readers of the local pipeline only read its stored runs: the fixture is
# built once per test session whatever the worker, see :func:`local_pipeline`.)
SHARED_GROUPS = {name: "local_pipeline" for name in ("test_pipeline", "test_faults_map")}
# The modules (or groups) that take minutes, longest chains first: with ``--no-loadscope-reorder`` the workers
# start them first, so no long module starts last.
SLOW_FIRST = ("local_pipeline", "test_faults_pipeline", "test_online_compare", "test_engine_slurm",
              "test_pipeline_s3", "test_postgres_team", "stopping")


@pytest.hookimpl(wrapper=True)
def pytest_collection_modifyitems(config, items):
    """With ``--dist loadgroup`` (``tasks.py test``) each module's tests stay on one worker, so a module-scoped
    fixture is built once; the modules of :data:`SHARED_GROUPS` share one worker; the groups of
    :data:`SLOW_FIRST` come first, in that order. A wrapper, so the marks are there before pytest-xdist's own
    hook reads them."""
    for item in items:
        if item.get_closest_marker("xdist_group") is None:
            module = item.module.__name__.rsplit(".", 1)[-1]
            item.add_marker(pytest.mark.xdist_group(SHARED_GROUPS.get(module, module)))

    def rank(item) -> int:
        group = item.get_closest_marker("xdist_group").args[0]
        return SLOW_FIRST.index(group) if group in SLOW_FIRST else len(SLOW_FIRST)

    items.sort(key=rank)  # stable: the collection order within a rank
    return (yield)


def pytest_xdist_node_collection_finished(node, ids):
    """Under ``--dist loadgroup``, a worker's test ids must carry their group (``...@group``); pytest 9.2 with
    pytest-xdist 3.8 drops it silently (pytest-xdist#1386) and every pipeline fixture is then built per worker."""
    if node.config.getoption("dist") == "loadgroup" and ids and not any("@" in i for i in ids):
        raise pytest.UsageError("pytest-xdist's --dist loadgroup lost the xdist_group marks (pytest-xdist#1386, "
                                f"pytest {pytest.__version__}): install the test extras' pytest (pip install -e '.[test]')")


@pytest.fixture
def corpus(tmp_path: Path):
    """A five-domain corpus on disk: (root, {domain: texts})."""
    root = tmp_path / "corpus"
    texts = make_corpus(root)
    return root, texts


@pytest.fixture
def project(corpus):
    """The parsed project config for :func:`corpus`."""
    root, _ = corpus
    return parse_config(corpus_config(root), source=str(root / "project.yaml"), base_dir=root)


@pytest.fixture(scope="session")
def _migrated_mlflow_db(tmp_path_factory) -> Path:
    """An empty MLflow sqlite store with migrations run once per session (they take seconds)."""
    from mlflow.tracking import MlflowClient

    path = tmp_path_factory.mktemp("mlflow-template") / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture
def mlflow_uri(tmp_path, _migrated_mlflow_db) -> str:
    """A fresh, real MLflow sqlite store in this test's temp dir (copied from the migrated template)."""
    import shutil

    target = tmp_path / "mlflow.db"
    shutil.copy(_migrated_mlflow_db, target)
    return f"sqlite:///{target}"



@pytest.fixture(scope="session")
def local_pipeline(tmp_path_factory, _migrated_mlflow_db, worker_id):
    """One finished pipeline of the engine tests' config with the local launcher, shared by the tests that read it
    (the pipeline test, the fault map, the Slurm and S3 tests' bitwise references): ``(root, config path, env,
    first run)``. Built once per test session: under pytest-xdist the first worker to need it builds it under a
    file lock in the session's shared temp folder, the others wait and reuse it (pytest-xdist's recipe)."""
    import json
    import shutil
    import subprocess

    from filelock import FileLock

    from tests.engine_support import LOCAL_PIPELINE, cli_env, engine_config, run_cli

    shared = tmp_path_factory.getbasetemp() if worker_id == "master" else tmp_path_factory.getbasetemp().parent
    root = shared / "local-pipeline"
    record = shared / "local-pipeline.json"
    with FileLock(str(shared / "local-pipeline.lock")):
        if not record.is_file():
            root.mkdir()
            shutil.copy(_migrated_mlflow_db, root / "mlflow.db")
            config = engine_config(root, f"sqlite:///{root / 'mlflow.db'}", **LOCAL_PIPELINE)
            done = run_cli(config, cli_env(root), "--out", str(root / "out"))
            record.write_text(json.dumps({"returncode": done.returncode, "stdout": done.stdout,
                                          "stderr": done.stderr}))
    first = json.loads(record.read_text())
    done = subprocess.CompletedProcess(["mixtures", "run"], first["returncode"], first["stdout"], first["stderr"])
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    return root, root / "project.yaml", cli_env(root), done


@pytest.fixture(scope="session")
def s3():
    """A real S3 API server (moto in server mode on 127.0.0.1, IAM signatures required), shared by the tests
    that use object storage (tests/s3_support.py); each test uses buckets of its own."""
    from tests.s3_support import start_s3

    server = start_s3()
    try:
        yield server
    finally:
        server.relay.close()
        server.server.stop()


@pytest.fixture
def s3_env(s3, monkeypatch):
    """Point the standard AWS variables at the server (fresh s3fs clients for each test); call it with
    other credentials (``key=``, ``secret=``) or ``via_relay=True`` to change them."""
    import s3fs

    def use(**kwargs):
        for key, value in s3.env(**kwargs).items():
            monkeypatch.setenv(key, value)
        s3fs.S3FileSystem.clear_instance_cache()

    use()
    yield use
    s3fs.S3FileSystem.clear_instance_cache()
