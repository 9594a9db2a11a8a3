"""The command trainer: the example script end to end, and every way a command can fail."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from mixtures.runs import RunSpec
from mixtures.trainers import train_proxy
from mixtures.trainers.command import ContractError, parse_output
from tests.proxy_fixture import fixture_catalog, fixture_config

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = str(REPO / "examples" / "command_trainer.py")


def _setup(tmp_path, args, timeout_s=60.0):
    config = fixture_config(tmp_path, trainer="command", command={"args": args, "timeout_s": timeout_s})
    weights = dict(zip(config.domain_names, [0.5, 0.2, 0.1, 0.2, 0.0], strict=True))
    spec = RunSpec(RunSpec.make_run_id("mix", "bigram", 40_960, 0), "mix", weights, "bigram", 40_960, 0)
    return config, spec, fixture_catalog(config)


def _script(tmp_path, body: str) -> str:
    path = tmp_path / "trainer.py"
    path.write_text("import json, sys, time, os\ninp, out = sys.argv[1], sys.argv[2]\n" + body, encoding="utf-8")
    return str(path)


def test_example_trainer_end_to_end(tmp_path):
    config, spec, catalog = _setup(tmp_path, [sys.executable, EXAMPLE, "{input}", "{output}"])
    result = train_proxy(config, spec, catalog, tmp_path / "run")
    assert result.status == "finished", result.reason
    table = result.table
    assert len(table) == 4 and set(table["trainer"]) == {"command"}
    assert table["n_tokens"].tolist() == [8_192, 20_480, 32_768, 40_960]
    assert (table["n_params"] == 65536).all() and set(table["loss_unit"]) == {"bits_per_byte"}
    assert table["w_speeches"].iloc[0] == 0.5
    final = result.final_losses()
    assert set(final) == set(config.domain_names) | {"docs"}
    assert all(2.0 < v < 8.0 for v in final.values())
    assert final["speeches"] < final["code"]  # trained mostly on speeches, a little on code
    sent = json.loads((tmp_path / "run" / "input.json").read_text())
    assert sent["weights"] == spec.weights and sent["domains"] == config.domain_names
    assert sent["target_sets"] == ["docs"] and Path(sent["token_files"]["docs"]["val"]).exists()


def test_non_zero_exit_reports_code_and_stderr_tail(tmp_path):
    script = _script(tmp_path, "print('CUDA out of memory at step 12', file=sys.stderr)\nsys.exit(3)\n")
    config, spec, catalog = _setup(tmp_path, [sys.executable, script, "{input}", "{output}"])
    result = train_proxy(config, spec, catalog, tmp_path / "run")
    assert result.status == "failed" and result.table.empty
    assert "exited with code 3" in result.reason and "CUDA out of memory at step 12" in result.reason


def test_timeout_kills_the_process_group(tmp_path):
    marker = tmp_path / "grandchild.pid"
    body = (
        "import subprocess\n"
        f"p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(marker)!r}, 'w').write(str(p.pid))\n"
        "time.sleep(60)\n"
    )
    config, spec, catalog = _setup(tmp_path, [sys.executable, _script(tmp_path, body), "{input}", "{output}"],
                                   timeout_s=4.0)
    started = time.monotonic()
    result = train_proxy(config, spec, catalog, tmp_path / "run")
    assert time.monotonic() - started < 30
    assert result.status == "failed" and "timed out after 4 s" in result.reason
    pid = int(marker.read_text())
    for _ in range(100):  # the grandchild was in the group: it is gone (or a zombie being reaped)
        try:
            state = Path(f"/proc/{pid}/stat").read_text().split()[2]
        except FileNotFoundError:
            break
        if state == "Z":
            break
        time.sleep(0.05)
    else:
        pytest.fail(f"grandchild {pid} survived the timeout")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("open(out, 'w').write('{not json')\n", "not valid JSON"),
        ("pass\n", "wrote no metrics"),
        ("json.dump({'evals': [{'n_tokens': 10, 'loss': {'code': 1.0}}]}, open(out, 'w'))\n", "'n_params'"),
        ("json.dump({'n_params': 5, 'evals': [{'n_tokens': 10, 'loss': {'wiki': 1.0}}]}, open(out, 'w'))\n",
         "unknown domain"),
        ("json.dump({'n_params': 5, 'evals': [{'n_tokens': 10, 'loss': {'code': -1}}]}, open(out, 'w'))\n",
         "evals[0].loss.code"),
    ],
)
def test_bad_output_is_a_clear_failure(tmp_path, body, expected):
    config, spec, catalog = _setup(tmp_path, [sys.executable, _script(tmp_path, body), "{input}", "{output}"])
    result = train_proxy(config, spec, catalog, tmp_path / "run")
    assert result.status == "failed"
    assert expected in result.reason
    assert str(tmp_path / "run") in result.reason


def test_missing_program_and_contract_parser(tmp_path):
    config, spec, catalog = _setup(tmp_path, [str(tmp_path / "no-such-trainer"), "{input}"])
    result = train_proxy(config, spec, catalog, tmp_path / "run")
    assert result.status == "failed" and "cannot start" in result.reason
    n, unit, evals = parse_output(
        {"n_params": 7, "loss_unit": "nats_per_token",
         "evals": [{"n_tokens": 5, "loss": {"a": 1.0}}, {"n_tokens": 9, "loss": {"a": 0.5}}]}, ["a"])
    assert (n, unit, [e["step"] for e in evals]) == (7, "nats_per_token", [1, 2])
    with pytest.raises(ContractError, match="larger than the previous"):
        parse_output({"n_params": 7, "evals": [{"n_tokens": 9, "loss": {"a": 1.0}},
                                               {"n_tokens": 9, "loss": {"a": np.float64(0.5)}}]}, ["a"])


def test_input_version_2_names_the_tokenizer_and_its_token_files_and_the_example_reports_bits_per_byte(tmp_path):
    pytest.importorskip("tokenizers")
    from mixtures.tokenizers import tokenizer_file

    config, spec, _ = _setup(tmp_path, [sys.executable, EXAMPLE, "{input}", "{output}"])
    corpus = config.corpus.model_copy(update={"tokenizer": "bpe", "bpe_vocab_size": 400, "bpe_sample_mb": 0.2})
    config = config.model_copy(update={"corpus": corpus})
    catalog = fixture_catalog(config)
    result = train_proxy(config, spec, catalog, tmp_path / "run")
    assert result.status == "finished", result.reason
    sent = json.loads((tmp_path / "run" / "input.json").read_text())
    assert sent["version"] == 2
    tokenizer = sent["tokenizer"]
    assert tokenizer["name"] == "bpe" and tokenizer["path"] == str(tokenizer_file(config))
    assert tokenizer["dtype"] == "uint16" and tokenizer["vocab_size"] == 400 and tokenizer["eod_id"] == 0
    files = sent["token_files"]["legal"]
    val = np.fromfile(files["val"], dtype=files["dtype"])
    covered = np.fromfile(files["val_bytes"], dtype=np.uint16)
    row = catalog.set_index("domain").loc["legal"]
    assert len(val) == len(covered) == row["val_tokens"] + row["val_docs"]
    assert int(covered.sum()) == row["val_bytes"] and int((val == 0).sum()) == row["val_docs"]
    assert all(1.0 < v < 8.0 for v in result.final_losses().values())  # bits per byte from a token bigram


def test_a_command_is_told_which_documents_of_a_partly_revealed_domain_it_may_train_on(tmp_path):
    from mixtures.corpus.revealed import revealed_positions
    from mixtures.trainers.command import command_input
    from tests.proxy_fixture import DOMAINS

    domains = [{**d, "revealed": 0.1} if d["name"] == "legal" else d for d in DOMAINS]
    config = fixture_config(tmp_path, domains=domains)
    catalog = fixture_catalog(config)
    weights = {d: 1 / len(config.domain_names) for d in config.domain_names}
    plain = RunSpec.create("uniform", weights, "micro", 4000, 0)
    partial = RunSpec.create("uniform", weights, "micro", 4000, 0, revealed={"legal": 0.1})
    assert "revealed_train_documents" not in command_input(config, plain, catalog, tmp_path / "out.json")
    told = command_input(config, partial, catalog, tmp_path / "out.json")["revealed_train_documents"]
    assert told == {"legal": revealed_positions(config, "legal")} and 0 < len(told["legal"])
    assert told["legal"] == sorted(set(told["legal"]))  # corpus order, each document once
