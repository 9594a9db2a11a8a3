"""Bad input through the command line: one clear message naming the file, line or field; a non-zero
exit; never a traceback.

The library-level messages are asserted elsewhere; this module checks what a user of the CLI sees.
Already covered, and not repeated here:

- tests/test_corpus.py: missing path, empty domain, malformed JSON line, skip-and-count, non-UTF-8
  (jsonl and text), missing text field / parquet column, truncated gzip, duplicate domain names,
  domain names escaping the output folder, unknown format -- all through the library.
- tests/test_config_and_contracts.py: "did you mean" for typos (load_config), wrong values naming the
  field, ``!!python/object/apply`` refused (load_config), mixture validation (negative, NaN, sum, unknown
  domain) and run-table row/line messages (validate_runs with an in-memory frame).
- tests/test_materialize_cli.py: ``mixtures materialize --weights`` malformed item, unknown domain, epoch
  cap, no mixture given.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from mixtures.cli import main
from mixtures.errors import TableError
from mixtures.runs_table import load_runs
from tests.corpus_factory import corpus_config, make_corpus, write_jsonl

pytestmark = pytest.mark.faults
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    make_corpus(tmp_path / "c")
    return tmp_path / "c"


def _config(root: Path, name: str, extra_domains=(), **overrides) -> Path:
    cfg = corpus_config(root, **overrides)
    cfg["domains"] += list(extra_domains)
    path = root / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _refused(capsys, argv: list[str]) -> str:
    """Run the CLI in this process; it must exit 2 with one message and no traceback."""
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err and err.count("mixtures: error:") == 1, err
    return err


def _catalog_refused(capsys, config: Path) -> str:
    return _refused(capsys, ["corpus", "catalog", "--config", str(config)])


# -- the corpus ----------------------------------------------------------------------------------------


def test_missing_domain_path(root, capsys):
    config = _config(root, "p", [{"name": "web", "paths": ["crawl/*.jsonl"]}])
    err = _catalog_refused(capsys, config)
    assert "domain 'web': path 'crawl/*.jsonl' matches no file" in err
    assert str(root / "crawl" / "*.jsonl") in err and "fix the domain's 'paths'" in err


def test_empty_domain(root, capsys):
    (root / "empty").mkdir()
    (root / "empty" / "e.jsonl").write_text("\n\n")
    err = _catalog_refused(capsys, _config(root, "p", [{"name": "empty", "paths": ["empty"]}]))
    assert "domain 'empty' has no documents" in err and str(root / "empty" / "e.jsonl") in err


def test_malformed_json_line_fails_by_default_and_skip_counts_it(root, capsys):
    write_jsonl(root / "web" / "w.jsonl", ["one", "two", "three"])
    lines = (root / "web" / "w.jsonl").read_text().splitlines()
    lines[1] = lines[1][:-1]  # line 2 loses its closing brace
    (root / "web" / "w.jsonl").write_text("\n".join(lines) + "\n")
    domain = [{"name": "web", "paths": ["web"]}]
    err = _catalog_refused(capsys, _config(root, "p", domain))
    assert f"{root / 'web' / 'w.jsonl'} line 2: malformed JSON" in err
    assert "on_bad_line: skip" in err  # says what to do

    skip = _config(root, "skip", domain, corpus={"on_bad_line": "skip"})
    assert main(["corpus", "catalog", "--config", str(skip)]) == 0
    table = capsys.readouterr().out.splitlines()
    assert "skipped_lines" in table[0]
    web = next(line.split() for line in table if line.split()[0] == "web")
    assert web[3] == "2" and web[-1] == "1"  # 2 documents kept, 1 line skipped
    assert main(["corpus", "catalog", "--config", str(skip), "--json"]) == 0
    rows = {r["domain"]: r for r in json.loads(capsys.readouterr().out)["domains"]}
    assert rows["web"]["documents"] == 2 and rows["web"]["skipped_lines"] == 1
    assert rows["prose"]["skipped_lines"] == 0


def test_non_utf8_bytes(root, capsys):
    (root / "latin").mkdir()
    (root / "latin" / "l.jsonl").write_bytes(b'{"text": "ok"}\n{"text": "ok"}\n{"text": "caf\xe9"}\n')
    err = _catalog_refused(capsys, _config(root, "p", [{"name": "latin", "paths": ["latin"]}]))
    assert f"{root / 'latin' / 'l.jsonl'} line 3: bytes are not valid UTF-8" in err


def test_missing_text_field(root, capsys):
    (root / "docs").mkdir()
    (root / "docs" / "d.jsonl").write_text('{"content": "a"}\n')
    err = _catalog_refused(capsys, _config(root, "p", [{"name": "docs", "paths": ["docs"]}]))
    assert f"{root / 'docs' / 'd.jsonl'} line 1: no field 'text'" in err and "content" in err


def test_a_bad_line_is_refused_by_materialize_too(root, capsys, tmp_path):
    (root / "code" / "code2.jsonl.zst").write_bytes(b"these bytes are not zstd data")
    config = _config(root, "p")
    out = tmp_path / "ds"
    err = _refused(capsys, ["materialize", "--config", str(config), "--weights", "code=1", "--size", "2000",
                            "--unit", "bytes", "--out", str(out)])
    assert f"{root / 'code' / 'code2.jsonl.zst'}: cannot be read" in err
    assert not out.exists()


# -- the config ----------------------------------------------------------------------------------------


def test_duplicate_domain_names(root, capsys):
    config = _config(root, "p", [{"name": "code", "paths": ["prose"]}])
    err = _catalog_refused(capsys, config)
    assert str(config) in err and "duplicate domain name(s) ['code']" in err


def test_typo_gets_did_you_mean_from_every_command(root, capsys, tmp_path):
    config = _config(root, "p", corpus={"on_bad_lines": "skip"})
    expected = "'corpus.on_bad_lines'; did you mean 'on_bad_line'?"
    for argv in (["corpus", "catalog", "--config", str(config)], ["run", str(config)],
                 ["materialize", "--config", str(config), "--weights", "code=1", "--out", str(tmp_path / "o")]):
        err = _refused(capsys, argv)
        assert str(config) in err and expected in err, argv


@pytest.mark.parametrize("name", ["../outside", "a/b", "..", "/abs"])
def test_path_traversal_in_a_domain_name_is_refused(root, capsys, name):
    config = _config(root, "p", [{"name": name, "paths": ["prose"]}])
    err = _catalog_refused(capsys, config)
    assert str(config) in err and "domains.4.name" in err
    assert not (root / "outside").exists() and not (root / ".mixtures").exists()


def test_yaml_tags_are_not_executed(root, capsys, tmp_path):
    witness = tmp_path / "pwned"
    config = root / "evil.yaml"
    config.write_text(f"project: !!python/object/apply:os.system ['touch {witness}']\n"
                      "domains: [{name: a, paths: [prose]}]\n")
    err = _catalog_refused(capsys, config)
    assert str(config) in err and "not valid YAML" in err and "python/object/apply" in err
    err = _refused(capsys, ["run", str(config)])
    assert "not valid YAML" in err
    assert not witness.exists()


# -- mixtures and run tables ---------------------------------------------------------------------------


@pytest.mark.parametrize("weights, expected", [
    ({"prose": -0.2, "code": 1.2}, "weight of 'prose' is -0.2; weights must be >= 0"),
    ({"prose": float("nan"), "code": 1.0}, "weight of 'prose' is nan; weights must be finite"),
    ({"prose": 0.3, "code": 0.3}, "weights sum to 0.6, not 1"),
    ({"prose": 0.5, "poetry": 0.5}, "unknown domain(s) ['poetry']"),
])
def test_bad_mixture_file_is_named(root, capsys, tmp_path, weights, expected):
    mixture = tmp_path / "mixture.json"
    mixture.write_text(json.dumps({"weights": weights}))  # json writes NaN as a bare NaN, which json reads back
    out = tmp_path / "ds"
    err = _refused(capsys, ["materialize", "--config", str(_config(root, "p")), "--mixture", str(mixture),
                            "--out", str(out)])
    assert f"{mixture}: " in err and expected in err
    assert not out.exists()


def test_unknown_domain_in_a_run_table_names_the_file(tmp_path):
    path = tmp_path / "runs.csv"
    pd.DataFrame({"run_id": ["r0", "r1"], "w_prose": [0.5, 1.0], "w_poetry": [0.5, 0.0],
                  "loss_prose": [2.0, 1.9]}).to_csv(path, index=False)
    with pytest.raises(TableError) as err:
        load_runs(path, domains=["prose", "code"])
    assert str(err.value).startswith(f"{path}: unknown domain(s) ['poetry']")


# -- the real executable, once per kind of failure -----------------------------------------------------


def _cli(*argv: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "MIXTURES_ENV")}
    environ.update({"PYTHONPATH": str(REPO), **(env or {})})
    return subprocess.run([sys.executable, "-m", "mixtures", *argv], cwd=cwd, env=environ,
                          capture_output=True, text=True, timeout=120)


def test_the_executable_exits_non_zero_without_a_traceback(root, tmp_path):
    (root / "web").mkdir()
    (root / "web" / "w.jsonl").write_text('{"text": "a"}\n{"text": \n')
    config = _config(root, "p", [{"name": "web", "paths": ["web"]}])
    done = _cli("corpus", "catalog", "--config", str(config), cwd=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert f"{root / 'web' / 'w.jsonl'} line 2: malformed JSON" in done.stderr


@pytest.mark.slow
def test_mixtures_run_names_the_bad_line_and_exits_2_like_catalog(root, tmp_path, mlflow_uri):
    """The same corpus error exits 2 from ``mixtures run`` (the blocking domains_readable check) as from catalog."""
    (root / "web").mkdir()
    (root / "web" / "w.jsonl").write_bytes(b'{"text": "a"}\n{"text": "\xff"}\n')
    config = _config(root, "p", [{"name": "web", "paths": ["web"]}], tracking={"uri": mlflow_uri})
    assert _cli("corpus", "catalog", "--config", str(config), cwd=tmp_path).returncode == 2
    done = _cli("run", str(config), cwd=tmp_path, env={"DAGSTER_HOME": str(tmp_path / "dh")})
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert "check domain_catalog.domains_readable failed" in done.stderr
    assert f"{root / 'web' / 'w.jsonl'} line 2: bytes are not valid UTF-8" in done.stderr


# -- the environment -----------------------------------------------------------------------------------


def test_team_environment_is_checked_before_anything_starts(root, capsys, monkeypatch, tmp_path):
    config = str(_config(root, "p"))
    home = tmp_path / "dh"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("MIXTURES_ENV", "staging")
    assert "MIXTURES_ENV='staging' is not one of ('local', 'team')" in _refused(capsys, ["run", config])
    monkeypatch.setenv("MIXTURES_ENV", "team")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert "MIXTURES_ENV=team needs MLFLOW_TRACKING_URI" in _refused(capsys, ["run", config])
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    err = _refused(capsys, ["run", config])
    assert f"needs DAGSTER_HOME set to a folder with a dagster.yaml (looked in {home})" in err
    assert "deploy/team/dagster.yaml" in err
    assert not (home / "dagster.yaml").exists()  # no embedded sqlite instance was made in its place


@pytest.mark.slow
def test_team_instance_with_its_database_down_is_one_clear_error(root, tmp_path):
    """``$DAGSTER_HOME/dagster.yaml`` from deploy/team on a PostgreSQL port nobody listens on."""
    from tests.test_faults_tracking import closed_port

    home = tmp_path / "dh"
    home.mkdir()
    (home / "dagster.yaml").write_text((REPO / "deploy" / "team" / "dagster.yaml").read_text())
    port = closed_port()
    env = {"MIXTURES_ENV": "team", "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{closed_port()}",
           "DAGSTER_HOME": str(home), "DAGSTER_PG_HOST": "127.0.0.1", "DAGSTER_PG_PORT": str(port),
           "DAGSTER_PG_USER": "mixtures", "DAGSTER_PG_PASSWORD": "", "DAGSTER_PG_DB": "dagster"}
    done = _cli("run", str(_config(root, "p")), cwd=tmp_path, env=env)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert f"cannot open the Dagster instance of DAGSTER_HOME={home}" in done.stderr
    assert f'"127.0.0.1", port {port} failed: Connection refused' in done.stderr
    assert not (root / ".mixtures").exists()  # nothing ran
