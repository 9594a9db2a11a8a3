"""Materialization faults: two processes writing the same dataset at once.

Already covered, and not repeated here (tests/test_materialize.py):
``test_killed_run_leaves_no_dataset_and_a_rerun_completes_with_the_same_hashes`` (SIGKILL half-way:
no output folder, no manifest; a rerun resumes to the same shard hashes as a clean run) and
``test_debris_of_a_killed_run_is_ignored_and_finished_stages_are_kept`` (half-written spill, shard temp
file, shard without its marker).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mixtures.resample.materialize import ConfigReader, Workspace, materialize
from tests.test_materialize import _big_project, _request, _sha

pytestmark = pytest.mark.faults
REPO = Path(__file__).resolve().parents[1]

WRITER = """
import json, sys
from mixtures.config import parse_config
from mixtures.resample.materialize import Request, materialize
from tests.test_materialize import SlowReader
config = parse_config(json.loads(sys.argv[1]), base_dir=sys.argv[2])
request = Request.from_dict(json.loads(sys.argv[3]))
manifest = materialize(request, sys.argv[4], SlowReader(config), log=lambda m: print(m, file=sys.stderr, flush=True))
print(json.dumps([s["sha256"] for s in manifest["shards"]]))
"""


@pytest.mark.slow
def test_two_materializations_of_one_dataset_do_not_interleave(tmp_path):
    config_map, config = _big_project(tmp_path)
    request = _request(size=60_000, shard_mb=0.01)
    out = tmp_path / "ds"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    argv = [sys.executable, "-c", WRITER, json.dumps(config_map), str(tmp_path), json.dumps(request.to_dict()), str(out)]
    first = subprocess.Popen(argv, env=env, cwd=str(REPO), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    work = Workspace(out).work
    deadline = time.time() + 60
    while time.time() < deadline and not (work / "request.json").exists():  # the first one has begun
        assert first.poll() is None, first.stderr.read()
        time.sleep(0.02)
    second = subprocess.Popen(argv, env=env, cwd=str(REPO), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    (out1, err1), (out2, err2) = first.communicate(timeout=180), second.communicate(timeout=180)
    assert first.returncode == 0, err1
    assert second.returncode == 0, err2
    assert "waiting for another materialization" in err2
    assert f"{out} is already complete" in err2  # the second found the first one's dataset
    clean = materialize(request, tmp_path / "clean", ConfigReader(config))
    assert json.loads(out1) == json.loads(out2) == _sha(clean)
    on_disk = json.loads((out / "manifest.json").read_text())
    assert _sha(on_disk) == _sha(clean)
    assert not work.exists()
