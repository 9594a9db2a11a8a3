"""The command trainer: run the user's own training program on one proxy spec.

The contract (see the README, "Your own trainer"):

* ``config.proxy.command.args`` is an argument list run without a shell; ``{input}``,
  ``{output}`` and ``{workdir}`` in any argument are replaced by paths in the run's work folder.
  ``command.env`` is added to the environment; the working directory is the config's folder.
* ``{input}`` is a JSON file (``INPUT_VERSION`` 2) with ``run_id, mixture_name, weights, model,
  tokens, seed, domains, target_sets, val_fraction, sources`` (per name: role, files with formats,
  text/id fields), ``tokenizer`` (``name``, ``vocab_size``, ``eod_id``, ``fingerprint``, ``dtype``
  and ``path``: the ``tokenizer.json`` for ``bpe``/``hf``, null for bytes) and ``token_files`` (per
  name: ``train``/``val`` flat arrays of token ids of ``dtype``, each document followed by ``eod_id``,
  and ``val_bytes``: a uint16 array of the UTF-8 bytes each validation token covers, for bits per
  byte; the built-in trainer's data, ready to memory-map). Version 1 readers keep working: the keys
  they read are unchanged, and under the default byte tokenizer so are the files' contents.
* The program writes ``{output}``: ``{"n_params": int > 0, "loss_unit": "bits_per_byte" (default)
  or e.g. "nats_per_token", "evals": [{"n_tokens": int > 0, "step": int (optional),
  "loss": {name: value >= 0}, "tasks": {task: {"loss": value >= 0, "acc": value in [0, 1]}} (optional)}]}``
  with eval points in increasing ``n_tokens``; names are training domains or target sets, a missing
  name is "not measured". ``{input}`` lists the project's tasks (``tasks``: per task ``name``, ``path`` of
  its jsonl items and ``chance``); a task's ``loss`` is the bits per byte of the correct choices given
  their contexts and ``acc`` the accuracy by per-byte log-likelihood (:mod:`mixtures.tasks`), both optional.
* Exit code 0 means success. A non-zero exit, a timeout (``command.timeout_s``; the whole process
  group is killed), a missing or malformed output end the run as ``failed`` with the reason
  (exit code, tail of stderr, or the offending field).
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from mixtures.config import ProjectConfig
from mixtures.corpus.domains import domain_files, source_config
from mixtures.corpus.revealed import revealed_positions
from mixtures.runs import RunSpec
from mixtures.storage import atomic_write_json
from mixtures.tasks import task_chances
from mixtures.tokenizers import describe, project_tokenizer
from mixtures.trainers.result import BITS_PER_BYTE, TrainResult, eval_names, failed, run_rows
from mixtures.trainers.tokens import domain_tokens

INPUT_VERSION = 2  # 2: the tokenizer, token dtype and per-token byte counts
STDERR_TAIL = 2000


class ContractError(ValueError):
    """The trainer's output does not follow the contract."""


def command_input(config: ProjectConfig, spec: RunSpec, catalog: pd.DataFrame, output: Path) -> dict[str, Any]:
    """The input document handed to the command (JSON-able)."""
    tokenizer = project_tokenizer(config)
    described = describe(tokenizer)
    sources, token_files = {}, {}
    for name in eval_names(config):
        source = source_config(config, name)
        sources[name] = {
            "role": "train" if name in config.domain_names else "target",
            "files": [{"path": str(path), "format": fmt} for path, fmt in domain_files(config, name)],
            "text_field": source.text_field,
            "id_field": source.id_field,
        }
        splits = domain_tokens(config, catalog, name, tokenizer)
        token_files[name] = {part: str(path) for part, path in splits.paths.items()}
        token_files[name]["dtype"] = described["dtype"]
    chances = task_chances(config)
    return {
        "version": INPUT_VERSION,
        "run_id": spec.run_id, "mixture_name": spec.mixture_name, "weights": dict(spec.weights),
        "model": spec.model, "tokens": int(spec.tokens), "seed": int(spec.seed),
        "domains": config.domain_names, "target_sets": [s.name for s in config.target.sets],
        "val_fraction": config.corpus.val_fraction, "sources": sources, "tokenizer": described,
        "token_files": token_files,
        "tasks": [{"name": t.name, "path": str(config.resolve(t.path)),
                   "chance": chances[t.name]} for t in config.target.tasks],
        "output": str(output),
        # a partly revealed domain's proxy run trains on these training documents only (corpus-order positions)
        **({"revealed_train_documents": {d: revealed_positions(config, d, "train", v)
                                         for d, v in spec.revealed.items()}} if spec.revealed else {}),
    }


def _parse_tasks(scores: Any, where: str, tasks: list[str]) -> dict[str, dict[str, float]]:
    """A point's optional ``tasks`` object: ``{task: {"loss": >= 0, "acc": in [0, 1]}}``, both keys optional."""
    if not isinstance(scores, dict):
        raise ContractError(f"{where}.tasks must be an object {{task: {{loss, acc}}}}")
    unknown = [t for t in scores if t not in tasks]
    if unknown:
        raise ContractError(f"{where}.tasks names unknown task(s) {unknown}; known: {tasks}")
    out = {}
    for task, score in scores.items():
        if not isinstance(score, dict) or set(score) - {"loss", "acc"}:
            raise ContractError(f"{where}.tasks.{task} must be an object with 'loss' and/or 'acc'")
        for key, value in score.items():
            top = 1.0 if key == "acc" else math.inf
            if (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
                    or not 0 <= value <= top):
                rule = "a fraction in [0, 1]" if key == "acc" else "a finite number >= 0"
                raise ContractError(f"{where}.tasks.{task}.{key} = {value!r}; it must be {rule}")
        out[task] = {k: float(v) for k, v in score.items()}
    return out


def parse_output(data: Any, names: list[str], tasks: list[str] | None = None) -> tuple[int, str, list[dict[str, Any]]]:
    """``(n_params, loss_unit, evals)`` from the command's output document, or :class:`ContractError`
    (``tasks``: the task names a point's optional ``tasks`` object may score)."""
    if not isinstance(data, dict):
        raise ContractError(f"the top level must be an object, not {type(data).__name__}")
    n_params = data.get("n_params")
    if isinstance(n_params, bool) or not isinstance(n_params, (int, float)) or not n_params > 0:
        raise ContractError(f"'n_params' must be a positive number, got {n_params!r}")
    unit = data.get("loss_unit", BITS_PER_BYTE)
    if not isinstance(unit, str) or not unit:
        raise ContractError(f"'loss_unit' must be a non-empty string, got {unit!r}")
    evals = data.get("evals")
    if not isinstance(evals, list) or not evals:
        raise ContractError("'evals' must be a non-empty list of {n_tokens, loss} objects")
    out, previous = [], 0
    for i, point in enumerate(evals):
        where = f"evals[{i}]"
        if not isinstance(point, dict):
            raise ContractError(f"{where} must be an object")
        n_tokens = point.get("n_tokens")
        if isinstance(n_tokens, bool) or not isinstance(n_tokens, (int, float)) or not n_tokens > 0:
            raise ContractError(f"{where}.n_tokens must be a positive number, got {n_tokens!r}")
        if n_tokens <= previous:
            raise ContractError(f"{where}.n_tokens ({n_tokens}) must be larger than the previous point's ({previous})")
        previous = n_tokens
        loss = point.get("loss")
        if not isinstance(loss, dict) or not loss:
            raise ContractError(f"{where}.loss must be a non-empty object {{name: value}}")
        unknown = [n for n in loss if n not in names]
        if unknown:
            raise ContractError(f"{where}.loss names unknown domain(s) {unknown}; known: {names}")
        for name, value in loss.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ContractError(f"{where}.loss.{name} = {value!r}; losses must be finite numbers >= 0")
        step = point.get("step", i + 1)
        parsed = {"step": int(step), "n_tokens": int(n_tokens), "loss": {k: float(v) for k, v in loss.items()}}
        if "tasks" in point:
            parsed["tasks"] = _parse_tasks(point["tasks"], where, list(tasks or []))
        out.append(parsed)
    return int(n_params), unit, out


def _tail(path: Path) -> str:
    try:
        text = path.read_bytes()[-STDERR_TAIL:].decode("utf-8", errors="replace").strip()
    except OSError:
        return ""
    return text or "(empty)"


def _kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    process.wait()


def train_command(
    config: ProjectConfig,
    spec: RunSpec,
    catalog: pd.DataFrame,
    workdir: str | Path,
    *,
    log: Callable[[str], None] | None = None,
) -> TrainResult:
    """Run ``config.proxy.command`` on ``spec`` and read its metrics back (see the module docstring)."""
    say = log or (lambda message: None)
    command = config.proxy.command
    if command is None:
        from mixtures.errors import ConfigError

        raise ConfigError("proxy.trainer is 'command' but proxy.command (args, timeout_s) is not set.")
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    input_path, output_path = workdir / "input.json", workdir / "output.json"
    output_path.unlink(missing_ok=True)
    atomic_write_json(input_path, command_input(config, spec, catalog, output_path))
    places = {"{input}": str(input_path), "{output}": str(output_path), "{workdir}": str(workdir)}
    args = []
    for arg in command.args:
        for key, value in places.items():
            arg = arg.replace(key, value)
        args.append(arg)
    env = {**os.environ, **command.env}
    stdout_path, stderr_path = workdir / "stdout.log", workdir / "stderr.log"
    say(f"{spec.run_id}: running {args}")
    started = time.perf_counter()
    with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
        try:
            process = subprocess.Popen(args, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env,
                                       cwd=config.base_dir, start_new_session=True)
        except OSError as exc:
            return failed(spec, f"cannot start the trainer command {args[0]!r}: {exc}; check proxy.command.args.")
        try:
            code = process.wait(timeout=command.timeout_s)
        except subprocess.TimeoutExpired:
            _kill_group(process)
            seconds = time.perf_counter() - started
            return failed(spec, f"the trainer command timed out after {command.timeout_s:g} s "
                                "(proxy.command.timeout_s); "
                                f"its process group was killed. stderr tail: {_tail(stderr_path)}", seconds=seconds)
        except BaseException:
            _kill_group(process)
            raise
    seconds = time.perf_counter() - started
    if code != 0:
        how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
        return failed(spec, f"the trainer command {how}. stderr tail: {_tail(stderr_path)}", seconds=seconds,
                      exit_code=code)
    if not output_path.exists():
        return failed(spec, f"the trainer command exited 0 but wrote no metrics to {output_path} (the {{output}} "
                            "argument); see the README's 'Your own trainer'.", seconds=seconds)
    try:
        document = json.loads(output_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return failed(spec, f"{output_path}: not valid JSON ({exc}); the trainer must write "
                            '{"n_params": ..., "evals": [{"n_tokens": ..., "loss": {...}}]}.', seconds=seconds)
    try:
        n_params, unit, evals = parse_output(document, eval_names(config), [t.name for t in config.target.tasks])
    except ContractError as exc:
        return failed(spec, f"{output_path}: {exc}.", seconds=seconds)
    table = run_rows(config, spec, evals, n_params=n_params, trainer="command", loss_unit=unit)
    say(f"{spec.run_id}: command finished in {seconds:.1f} s with {len(evals)} eval point(s)")
    return TrainResult(spec, "finished", "", table, seconds, n_params,
                       {"exit_code": 0, "stdout_log": str(stdout_path), "stderr_log": str(stderr_path)})
