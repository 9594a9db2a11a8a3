"""Multiple-choice tasks: the item schema, its reader, and how a model's likelihoods score a task.

A task is a jsonl file, one item per line::

    {"context": "The capital of France is", "choices": [" Paris.", " Rome.", " a cat."], "answer": 0}

* ``context``: a non-empty string, the text the model is conditioned on;
* ``choices``: a list of at least two non-empty strings, the candidate continuations of the context
  (put the separating space at the start of each choice, as above);
* ``answer``: the index (from 0) of the correct choice;
* ``id`` (optional): the item's name in error messages; blank lines are skipped.

A model scores a task from each choice's summed log-likelihood given its context (nats) and the
choice's UTF-8 length (bytes), so the scores mean the same under every tokenizer:

* **task loss**: bits per byte of the correct continuations, summed nats over summed bytes / ln 2;
* **accuracy**: the fraction of items whose correct choice has the highest per-byte log-likelihood
  (ties go to the first choice, as ``numpy.argmax``);
* **chance**: the accuracy of a uniform guess, the mean of ``1 / len(choices)``.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mixtures.errors import MixturesError

TASKLOSS_PREFIX = "taskloss_"   # run-table column of a task's loss (bits per byte of the correct choice)
ACC_PREFIX = "acc_"             # run-table column of a task's accuracy (a fraction in [0, 1])


class TaskError(MixturesError):
    """A task file or item is invalid."""


@dataclass(frozen=True)
class TaskItem:
    """One multiple-choice item."""

    context: str
    choices: tuple[str, ...]
    answer: int


def taskloss_column(task: str) -> str:
    return f"{TASKLOSS_PREFIX}{task}"


def acc_column(task: str) -> str:
    return f"{ACC_PREFIX}{task}"


def parse_item(record: object, where: str) -> TaskItem:
    """A :class:`TaskItem` from one decoded jsonl line, or a :class:`TaskError` naming ``where`` and the field."""
    if not isinstance(record, dict):
        raise TaskError(f"{where}: an item must be an object {{context, choices, answer}}, not {type(record).__name__}.")
    if "id" in record:
        where = f"{where} (id {record['id']!r})"
    context = record.get("context")
    if not isinstance(context, str) or not context.strip():
        raise TaskError(f"{where}: 'context' must be a non-empty string, got {context!r}.")
    choices = record.get("choices")
    if not isinstance(choices, list) or len(choices) < 2:
        raise TaskError(f"{where}: 'choices' must be a list of at least two strings, got {choices!r}.")
    for k, choice in enumerate(choices):
        if not isinstance(choice, str) or not choice:
            raise TaskError(f"{where}: choices[{k}] must be a non-empty string, got {choice!r}.")
    answer = record.get("answer")
    if isinstance(answer, bool) or not isinstance(answer, int) or not 0 <= answer < len(choices):
        raise TaskError(f"{where}: 'answer' must be an index from 0 to {len(choices) - 1} into 'choices', "
                        f"got {answer!r}.")
    unknown = sorted(set(record) - {"context", "choices", "answer", "id"})
    if unknown:
        raise TaskError(f"{where}: unknown field(s) {unknown}; an item has context, choices, answer and optionally id.")
    return TaskItem(context=context, choices=tuple(choices), answer=int(answer))


def _as_path(path) -> Path:
    """A path object for ``path``: a string becomes a :class:`~pathlib.Path`; a path (or a URL's
    :class:`upath.UPath`, from :meth:`~mixtures.config.ProjectConfig.resolve`) stays as it is."""
    return Path(path) if isinstance(path, str) else path


def read_items(path: str | Path) -> list[TaskItem]:
    """Every item of a task file; the first bad line is refused by number (nothing partial is returned)."""
    path = _as_path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TaskError(f"{path}: no such task file; give a jsonl file of {{context, choices, answer}} items.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TaskError(f"{path}: cannot be read as UTF-8 text: {exc}") from None
    items = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}: line {number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise TaskError(f"{where}: not valid JSON ({exc.msg}); one item object per line.") from None
        items.append(parse_item(record, where))
    if not items:
        raise TaskError(f"{path}: the task has no items; add one jsonl line per item.")
    return items


def task_fingerprint(path: str | Path) -> str:
    """The SHA-256 of a task file's bytes (what a run's results depend on)."""
    return hashlib.sha256(_as_path(path).read_bytes()).hexdigest()


def task_fingerprints(config) -> dict[str, str]:
    """``{task: SHA-256 of its file}`` for the config's ``target.tasks`` (a clear error for a missing file)."""
    out = {}
    for task in config.target.tasks:
        path = config.resolve(task.path)
        try:
            out[task.name] = task_fingerprint(path)
        except OSError as exc:
            raise TaskError(f"target.tasks {task.name!r}: cannot read {path} ({exc}); fix target.tasks[].path.") from None
    return out


def task_chances(config) -> dict[str, float]:
    """``{task: chance accuracy}`` (:func:`chance_level` of its items) for the config's ``target.tasks``."""
    return {task.name: chance_level(read_items(config.resolve(task.path))) for task in config.target.tasks}


def chance_level(items: Sequence[TaskItem]) -> float:
    """The expected accuracy of a uniform guess: the mean of ``1 / len(choices)``."""
    return float(np.mean([1.0 / len(item.choices) for item in items]))


@dataclass(frozen=True)
class TaskScore:
    """A model's score on one task: ``loss`` (bits per byte of the correct choices), ``accuracy``, ``chance``."""

    loss: float
    accuracy: float
    chance: float


def score_task(items: Sequence[TaskItem], nats: Sequence[Sequence[float]],
               nbytes: Sequence[Sequence[int]]) -> TaskScore:
    """Score a task from each item's per-choice summed negative log-likelihood (``nats[i][k]``) and the
    choices' UTF-8 lengths (``nbytes[i][k]``), as the module docstring defines."""
    correct_nats = correct_bytes = hits = 0.0
    for item, item_nats, item_bytes in zip(items, nats, nbytes, strict=True):
        per_byte = np.asarray(item_nats, dtype=float) / np.asarray(item_bytes, dtype=float)
        hits += int(np.argmax(-per_byte)) == item.answer
        correct_nats += float(item_nats[item.answer])
        correct_bytes += float(item_bytes[item.answer])
    return TaskScore(loss=correct_nats / correct_bytes / math.log(2), accuracy=hits / len(items),
                     chance=chance_level(items))
