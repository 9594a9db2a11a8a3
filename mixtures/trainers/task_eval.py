"""How the built-in trainer measures the project's tasks (``target.tasks``) at an eval point.

Each (item, choice) pair is one sequence: the end-of-document id (a document starts after it, as in
training), the context's tokens, then the choice's tokens, each encoded on its own by the project's
tokenizer. A sequence longer than the model's ``seq_len + 1`` keeps its last tokens (the context is cut
from the left). The choice's summed nats under the model and its UTF-8 length score the task
(:func:`mixtures.tasks.score_task`), so the task loss is bits per byte under every tokenizer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mixtures.tasks import TaskError, TaskItem, TaskScore, chance_level, read_items, score_task
from mixtures.tokenizers import Tokenizer
from mixtures.trainers.evaluation import token_losses


@dataclass(frozen=True)
class EncodedTask:
    """A task's items as token sequences: ``sequences[j]`` of pair ``j`` (item-major, choice order), whose last
    ``continuation[j]`` tokens are the choice; ``nbytes[i][k]`` the UTF-8 length of item ``i``'s choice ``k``."""

    items: list[TaskItem]
    sequences: list[np.ndarray]
    continuation: list[int]
    nbytes: list[list[int]]


def encode_task(items: list[TaskItem], tokenizer: Tokenizer, seq_len: int, *, name: str = "task") -> EncodedTask:
    """The items' sequences for a model of context ``seq_len`` (a :class:`TaskError` when a choice alone has
    more than ``seq_len`` tokens: it cannot be scored whole)."""
    contexts = tokenizer.encode_batch([item.context for item in items])
    flat = [choice for item in items for choice in item.choices]
    choice_ids = tokenizer.encode_batch(flat)
    sequences, continuation, nbytes = [], [], []
    j = 0
    for i, (item, context) in enumerate(zip(items, contexts, strict=True)):
        head = np.concatenate([[tokenizer.eod_id], np.asarray(context, dtype=np.int64)])
        sizes = []
        for k, choice in enumerate(item.choices):
            ids = np.asarray(choice_ids[j], dtype=np.int64)
            j += 1
            if len(ids) == 0 or len(ids) > seq_len:
                raise TaskError(f"task {name!r}: item {i + 1}, choice {k} has {len(ids)} tokens; a choice needs "
                                f"1 to {seq_len} tokens (the model's context) to be scored.")
            sequences.append(np.concatenate([head, ids])[-(seq_len + 1):])
            continuation.append(len(ids))
            sizes.append(len(choice.encode("utf-8")))
        nbytes.append(sizes)
    return EncodedTask(items=list(items), sequences=sequences, continuation=continuation, nbytes=nbytes)


def continuation_nats(model, task: EncodedTask, *, pad_id: int, chunk: int, device,
                      autocast: Callable) -> np.ndarray:
    """Summed nats of every pair's continuation under ``model`` (float64, pair order); sequences go through
    ``chunk`` at a time, right-padded with ``pad_id`` (causal attention: padding never reaches a scored token)."""
    import torch

    out = np.empty(len(task.sequences), dtype=np.float64)
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for lo in range(0, len(task.sequences), chunk):
            part = task.sequences[lo:lo + chunk]
            width = max(len(s) for s in part)
            batch = np.full((len(part), width), pad_id, dtype=np.int64)
            for r, seq in enumerate(part):
                batch[r, :len(seq)] = seq
            with autocast():
                losses = token_losses(model, torch.from_numpy(batch).to(device)).double().cpu().numpy()
            for r, seq in enumerate(part):
                n = task.continuation[lo + r]
                out[lo + r] = losses[r, len(seq) - 1 - n:len(seq) - 1].sum()  # targets are tokens[1:]
    model.train(was_training)
    return out


def score_encoded(model, task: EncodedTask, *, pad_id: int, chunk: int, device, autocast: Callable) -> TaskScore:
    """The model's :class:`~mixtures.tasks.TaskScore` on one encoded task."""
    nats = continuation_nats(model, task, pad_id=pad_id, chunk=chunk, device=device, autocast=autocast)
    per_item, j = [], 0
    for item in task.items:
        per_item.append(nats[j:j + len(item.choices)])
        j += len(item.choices)
    return score_task(task.items, per_item, task.nbytes)


class TaskEvaluator:
    """The project's tasks, read and encoded once per run; called at each eval point with the model."""

    def __init__(self, config, tokenizer: Tokenizer, seq_len: int) -> None:
        self.pad_id = int(tokenizer.eod_id)
        self.tasks = {t.name: encode_task(read_items(config.resolve(t.path)), tokenizer, seq_len, name=t.name)
                      for t in config.target.tasks}

    def __bool__(self) -> bool:
        return bool(self.tasks)

    def chance(self) -> dict[str, float]:
        """``{task: chance accuracy}``."""
        return {name: chance_level(task.items) for name, task in self.tasks.items()}

    def __call__(self, model, *, chunk: int, device, autocast: Callable) -> dict[str, dict[str, float]]:
        """``{task: {"loss": bits per byte, "acc": accuracy}}``."""
        out = {}
        for name, task in self.tasks.items():
            score = score_encoded(model, task, pad_id=self.pad_id, chunk=chunk, device=device, autocast=autocast)
            out[name] = {"loss": score.loss, "acc": score.accuracy}
        return out
