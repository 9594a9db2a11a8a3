"""Extra training signals that online schedules ask for, computed from the trainer's view of a run.

A schedule declares ``needs`` (a set of the names below) and, optionally, ``needs_at(step)`` to
ask for them only on some steps. Through the trainer's signal protocol
(:class:`mixtures.trainers.schedule.TrainingView`) it builds a :class:`SignalSource`; after each
optimizer step the trainer calls it and passes what it returns to ``schedule.observe`` with the
usual signals:

``per_sample_loss``   (batch,) mean loss of each training sequence (nats/byte, before the step)
``per_token_loss``    (batch, seq) loss of each training token (nats/byte, before the step)
``reference_loss``    (batch, seq) the schedule's ``reference`` model's loss on the same tokens
``eval_loss``         {name: nats/byte} on the first ``schedule.eval_windows`` validation windows of
                      every training domain and target set, at the current parameters
``domain_grads``      (domains, p) gradients of each domain's loss on ``schedule.probe_sequences``
                      training sequences, on the last ``schedule.layers`` blocks (+ final norm, output head)
``target_grad``       (p,) gradient of the target objective on as many validation windows of the
                      names in ``schedule.target_weights`` (same parameters)

``chosen`` (the domain index of each training sequence) comes with any of them.
Every draw is seeded by (run seed, step), so a resumed run sees the same signals. Each call also
returns ``overhead_seconds`` and ``probe_tokens`` (tokens pushed through extra passes).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

KNOWN = frozenset({"per_sample_loss", "per_token_loss", "reference_loss", "eval_loss", "domain_grads", "target_grad"})


def probe_parameters(model, layers: int) -> list:
    """The parameters whose gradients are compared: the last ``layers`` blocks, the final norm and
    the output head (when it is not tied to the byte embedding)."""
    params = [p for block in list(model.blocks)[-layers:] for p in block.parameters()]
    params += list(model.ln_f.parameters())
    head = getattr(model, "head", None)
    return params + (list(head.parameters()) if head is not None else [])


class SignalSource:
    """Computes the extra signals of one run (see the module docstring) from the trainer's ``view``
    (:class:`mixtures.trainers.schedule.TrainingView`: model, device, seed, training tokens per
    domain, validation windows per name, and its per-token loss)."""

    def __init__(self, schedule: Any, view: Any) -> None:
        unknown = set(schedule.needs) - KNOWN
        if unknown:
            from mixtures.errors import TrainerError

            raise TrainerError(f"schedule {type(schedule).__name__} needs unknown signal(s) {sorted(unknown)}; "
                               f"known: {sorted(KNOWN)}")
        self.schedule = schedule
        self.view = view
        self.model = view.model
        self.seed = int(view.seed)
        self.device = view.device

    def __call__(self, step: int, batch, chosen: np.ndarray, per_token) -> dict[str, Any]:
        import torch

        needs = getattr(self.schedule, "needs_at", lambda s: self.schedule.needs)(step)
        if not needs:
            return {}
        tick = time.perf_counter()
        out: dict[str, Any] = {"probe_tokens": 0, "chosen": np.asarray(chosen)}
        per_token_np = per_token.detach().cpu().numpy().astype(np.float64)
        if "per_sample_loss" in needs:
            out["per_sample_loss"] = per_token_np.mean(axis=1)
        if "per_token_loss" in needs:
            out["per_token_loss"] = per_token_np
        if "reference_loss" in needs:
            reference = self.schedule.reference
            with torch.no_grad():
                out["reference_loss"] = self.view.token_loss(reference, batch).cpu().numpy().astype(np.float64)
            out["probe_tokens"] += int(batch[:, 1:].numel())
        if "eval_loss" in needs:
            out["eval_loss"] = self._eval_loss(int(self.schedule.eval_windows), out)
        if "domain_grads" in needs or "target_grad" in needs:
            self._grads(step, needs, out)
        out["overhead_seconds"] = time.perf_counter() - tick
        return out

    def _eval_loss(self, windows: int, out: dict[str, Any]) -> dict[str, float]:
        import torch

        losses = {}
        was_training = self.model.training
        self.model.eval()
        with torch.no_grad():
            for name, win in self.view.eval_windows.items():
                if len(win) == 0:
                    losses[name] = float("nan")
                    continue
                chunk = torch.from_numpy(np.asarray(win[:windows]).astype(np.int64)).to(self.device)
                losses[name] = float(self.view.token_loss(self.model, chunk).mean())
                out["probe_tokens"] += int(chunk[:, 1:].numel())
        self.model.train(was_training)
        return losses

    def _windows(self, tokens: np.ndarray, rng: np.random.Generator, count: int) -> np.ndarray:
        width = self.view.seq_len + 1
        tokens = np.asarray(tokens)
        if len(tokens) < width:
            tokens = np.resize(tokens, width)
        starts = rng.integers(0, len(tokens) - width + 1, size=count)
        return np.stack([tokens[s:s + width] for s in starts]).astype(np.int64)

    def _grads(self, step: int, needs: frozenset[str], out: dict[str, Any]) -> None:
        import torch

        schedule = self.schedule
        params = probe_parameters(self.model, int(schedule.layers))
        count = int(schedule.probe_sequences)
        rng = np.random.default_rng([self.seed, step, 0xD6A])

        def flat_grad(loss) -> np.ndarray:
            grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
            parts = [(g if g is not None else torch.zeros_like(p)).reshape(-1) for g, p in zip(grads, params, strict=True)]
            return torch.cat(parts).detach().cpu().numpy().astype(np.float64)

        if "domain_grads" in needs:
            rows = [self._windows(t, rng, count) if len(t) else None for t in self.view.train_tokens]
            present = [i for i, r in enumerate(rows) if r is not None]
            batch = torch.from_numpy(np.concatenate([rows[i] for i in present])).to(self.device)
            loss = self.view.token_loss(self.model, batch).mean(dim=1)
            out["probe_tokens"] += int(batch[:, 1:].numel())
            size = sum(p.numel() for p in params)
            grads = np.zeros((len(rows), size))
            for k, i in enumerate(present):
                grads[i] = flat_grad(loss[k * count:(k + 1) * count].mean())
            out["domain_grads"] = grads
        if "target_grad" in needs:
            windows_of = self.view.eval_windows
            weights = {n: w for n, w in schedule.target_weights.items() if w > 0 and len(windows_of.get(n, ())) > 0}
            names = sorted(weights)
            rows = []
            for name in names:
                windows = windows_of[name]
                rows.append(windows[rng.integers(0, len(windows), size=count)].astype(np.int64))
            batch = torch.from_numpy(np.concatenate(rows)).to(self.device)
            per_seq = self.view.token_loss(self.model, batch).mean(dim=1)
            out["probe_tokens"] += int(batch[:, 1:].numel())
            total = sum(weights.values())
            loss = sum(weights[n] / total * per_seq[k * count:(k + 1) * count].mean() for k, n in enumerate(names))
            out["target_grad"] = flat_grad(loss)
