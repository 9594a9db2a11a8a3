"""The built-in proxy trainer: a transformer trained on a mixture, evaluated in bits per byte.

One run draws every batch by the schedule's domain weights (seeded per step, so a resumed run
draws the same batches), evaluates the per-domain validation loss of every training domain and
held-out target set at ``config.proxy.eval_points`` points along the token budget (on a moving
average of the weights, :class:`WeightAverage`), and saves an
atomic checkpoint under ``workdir`` at every eval point (and at least every
``CHECKPOINT_SECONDS``). A killed run started again with the same inputs resumes from its last
checkpoint and ends with the same losses. Losses that are not finite, or that blow up, end the
run as ``failed``. Tokens come from the project's tokenizer (:mod:`mixtures.tokenizers`); where and
in which precision the run computes is its :class:`~mixtures.trainers.runtime.Runtime`.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mixtures.config import ProjectConfig
from mixtures.runs import RunSpec
from mixtures.mixture import to_vector, validate_mixture
from mixtures import storage
from mixtures.tasks import task_fingerprints
from mixtures.tokenizers import describe, project_tokenizer
from mixtures.trainers.baseline import token_histogram, unigram_bits
from mixtures.trainers.data import TrainingData
from mixtures.trainers.evaluation import bits_per_byte, eval_tokens_for, token_losses
from mixtures.trainers.model import ModelPreset, build_model, get_preset
from mixtures.trainers.result import TrainResult, failed, run_rows
from mixtures.trainers.runtime import (BatchPrefetcher, Runtime, compiled, configure_backends, make_optimizer,
                                       resolve_runtime)
from mixtures.trainers.schedule import MixtureSchedule, StaticSchedule, check_simplex
from mixtures.trainers.task_eval import TaskEvaluator

TRAINER_VERSION = 3          # 3: tokenizer-aware data; the runtime (device, precision, micro-batch) in the key
CHECKPOINT_SECONDS = 30.0
EMA_DECAY = 0.99            # evaluation weights: an exponential moving average of the trained ones
CHECKPOINT = "checkpoint.pt"

Log = Callable[[str], None]


def diverged_nats(vocab_size: int) -> float:
    """A training loss above this (nats per token) ends the run: far above a uniform guess."""
    return 3 * math.log(max(256, vocab_size))


def eval_steps(total_steps: int, points: int) -> list[int]:
    """The (1-based) steps after which the run is evaluated; the last one is ``total_steps``."""
    return sorted({max(1, round(k * total_steps / points)) for k in range(1, points + 1)})


def learning_rate(preset: ModelPreset, step: int, total: int) -> float:
    """Linear warm-up over the preset's first ``warmup_steps`` steps, then constant.

    No decay, and a warm-up that does not depend on the run's length: a run's loss at D tokens is the
    same whatever its total budget (same seed, same data order), so the eval points along a run are
    the points a shorter run would end at, and laws can extrapolate along D from them.
    """
    if step < preset.warmup_steps:
        return preset.lr * (step + 1) / preset.warmup_steps
    return preset.lr


class WeightAverage:
    """An exponential moving average of a model's parameters, the weights the run is evaluated on.

    At a constant learning rate the raw weights jitter from step to step, and so does their loss
    (by as much as the whole mixture effect at proxy scale); the average behaves like the end of a
    learning-rate cool-down without one. Its decay warms up as ``min(decay, (1 + t) / (10 + t))``, so
    it depends on the steps taken, not on the run's budget: an eval point along a run is still where
    a shorter run would end.
    """

    def __init__(self, model, decay: float = EMA_DECAY) -> None:
        self.decay = decay
        self.updates = 0
        self.params = [p.detach().clone() for p in model.parameters()]

    def update(self, model) -> None:
        import torch

        self.updates += 1
        beta = min(self.decay, (1.0 + self.updates) / (10.0 + self.updates))
        with torch.no_grad():
            for avg, p in zip(self.params, model.parameters()):
                avg.mul_(beta).add_(p.detach(), alpha=1.0 - beta)

    def swapped_into(self, model):
        """Context manager: ``model`` holds the averaged weights inside the block."""
        import contextlib

        import torch

        @contextlib.contextmanager
        def swap():
            live = [p.detach().clone() for p in model.parameters()]
            with torch.no_grad():
                for p, avg in zip(model.parameters(), self.params):
                    p.copy_(avg)
            try:
                yield model
            finally:
                with torch.no_grad():
                    for p, value in zip(model.parameters(), live):
                        p.copy_(value)

        return swap()

    def state_dict(self) -> dict:
        return {"decay": self.decay, "updates": self.updates, "params": [p.clone() for p in self.params]}

    def load_state_dict(self, state: dict) -> None:
        self.decay, self.updates = float(state["decay"]), int(state["updates"])
        self.params = [p.clone() for p in state["params"]]


class RunView:
    """The :class:`~mixtures.trainers.schedule.TrainingView` a run shows its schedule."""

    def __init__(self, model, data: TrainingData, seed: int, device, runtime: Runtime) -> None:
        self.model = model
        self.device = device
        self.seed = int(seed)
        self.seq_len = data.seq_len
        self.train_tokens = data.train
        self.eval_windows = data.eval
        self._autocast = runtime.autocast

    def token_loss(self, model, tokens):
        with self._autocast():
            return token_losses(model, tokens)


def _run_key(config: ProjectConfig, spec: RunSpec, preset: ModelPreset, data: TrainingData, steps: int,
             runtime: Runtime) -> str:
    payload = {
        "version": TRAINER_VERSION, "run_id": spec.run_id, "weights": spec.weights, "seed": spec.seed,
        "preset": preset.as_dict(), "steps": steps, "eval_points": config.proxy.eval_points,
        "data": data.keys, "val_fraction": config.corpus.val_fraction,
        "tokenizer": data.tokenizer.fingerprint, "runtime": runtime.record(),
    }
    if config.target.tasks:  # only then: the key of a run without tasks is what it was
        payload["tasks"] = task_fingerprints(config)
    if spec.unique_tokens:  # likewise
        payload["unique_tokens"] = spec.unique_tokens
    if spec.revealed:  # likewise
        payload["revealed"] = spec.revealed
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def train_step(model, optimizer, tokens, sample_weights: Callable[[np.ndarray], np.ndarray] | None = None, *,
               micro_batch: int | None = None, autocast: Callable[[], Any] | None = None):
    """One optimizer step on a ``(batch, seq+1)`` token tensor; returns the detached ``(batch, seq)``
    per-token losses (nats).

    The batch goes through the model ``micro_batch`` sequences at a time, gradients accumulated (the
    loss is the mean over all the batch's tokens either way). ``sample_weights`` (per-sequence mean
    losses -> weights) makes the loss a weighted mean over sequences (instance-level reweighting,
    :mod:`mixtures.online.reweight`). ``autocast`` is the precision context of the forward passes.
    """
    import torch

    context = autocast or contextlib.nullcontext
    n = tokens.shape[0]
    size = n if not micro_batch or micro_batch >= n else int(micro_batch)
    if size == n:  # one pass (the demo's presets on CPU)
        with context():
            per_token = token_losses(model, tokens)
        if sample_weights is None:
            loss = per_token.reshape(-1).mean()
        else:
            per_seq = per_token.mean(1)
            weights = torch.as_tensor(sample_weights(per_seq.detach().cpu().numpy().astype(np.float64)),
                                      dtype=per_seq.dtype, device=per_seq.device)
            loss = (per_seq * weights).sum() / weights.sum()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        return per_token.detach()
    parts = [tokens[lo:lo + size] for lo in range(0, n, size)]
    weights = None
    if sample_weights is not None:  # the weights need every sequence's loss before any backward pass
        with torch.no_grad(), context():
            per_seq = torch.cat([token_losses(model, part).mean(1) for part in parts])
        weights = torch.as_tensor(sample_weights(per_seq.cpu().numpy().astype(np.float64)),
                                  dtype=per_seq.dtype, device=per_seq.device)
    optimizer.zero_grad(set_to_none=True)
    total = float(tokens[:, 1:].numel())
    losses = []
    for k, part in enumerate(parts):
        with context():
            per_token = token_losses(model, part)
        if weights is None:
            loss = per_token.sum() / total
        else:
            chunk = weights[k * size:k * size + len(part)]
            loss = (per_token.mean(1) * chunk).sum() / weights.sum()
        loss.backward()
        losses.append(per_token.detach())
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    return torch.cat(losses)


def load_trained_model(config: ProjectConfig, spec: RunSpec, workdir: str | Path):
    """The model of the finished (or last checkpointed) run of ``spec`` in ``workdir``, on the CPU, in
    eval mode, without gradients (e.g. DoReMi's reference model)."""
    import torch

    saved = _load(storage.join(workdir, CHECKPOINT), "cpu")
    model = build_model(get_preset(spec.model), project_tokenizer(config).vocab_size)
    model.load_state_dict(saved["model"])
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def _save(path: storage.PathLike, state: dict) -> None:
    """A checkpoint, atomically, on local disk or object storage (the run store's ``work/``)."""
    import torch

    buffer = io.BytesIO()
    torch.save(state, buffer)
    storage.atomic_write_bytes(path, buffer.getvalue())


def _load(path: storage.PathLike, device) -> dict:
    """A checkpoint written by :func:`_save` (local disk or object storage)."""
    import torch

    url = storage.url_of(path)
    source = io.BytesIO(storage.read_bytes(url)) if storage.is_url(url) else url
    return torch.load(source, map_location=device, weights_only=False)


def train_builtin(
    config: ProjectConfig,
    spec: RunSpec,
    catalog: pd.DataFrame,
    workdir: str | Path,
    *,
    log: Log | None = None,
    schedule: MixtureSchedule | None = None,
    on_eval: Callable[[dict[str, Any]], None] | None = None,
) -> TrainResult:
    """Train the built-in proxy model on ``spec`` (see the module docstring)."""
    import torch

    say = log or (lambda message: None)
    preset = get_preset(spec.model)
    tokenizer = project_tokenizer(config)
    runtime = resolve_runtime(config.proxy, preset)
    domains = config.domain_names
    weights = to_vector(validate_mixture(spec.weights, domains, where=f"run {spec.run_id}"), domains)
    schedule = schedule if schedule is not None else StaticSchedule(weights)
    workdir = storage.url_of(workdir)  # a local folder or the run store's work/ on object storage
    storage.makedirs(workdir)

    torch.set_num_threads(int(spec.threads))  # fixed by the spec: the same losses wherever it runs
    torch.use_deterministic_algorithms(True, warn_only=True)
    configure_backends(runtime)
    device = runtime.torch_device()

    data = TrainingData(config, catalog, preset.seq_len, eval_tokens_for(spec.tokens), tokenizer, spec.unique_tokens,
                        spec.revealed)
    tasks = TaskEvaluator(config, tokenizer, preset.seq_len)
    steps = max(1, math.ceil(spec.tokens / preset.tokens_per_step))
    at_eval = set(eval_steps(steps, config.proxy.eval_points))
    key = _run_key(config, spec, preset, data, steps, runtime)
    totals = [len(t) for t in data.train]
    histograms = [token_histogram(t, tokenizer.vocab_size, data.eod_id) for t in data.train]
    baseline = unigram_bits(histograms, weights, data.eval, data.eval_bytes, data.eod_id)
    too_high = diverged_nats(tokenizer.vocab_size)

    torch.manual_seed(spec.seed)
    model = build_model(preset, tokenizer.vocab_size).to(device)
    forward = compiled(model, runtime)
    n_params = model.non_embedding_params()
    optimizer = make_optimizer(model, preset, runtime)
    average = WeightAverage(model)
    state: dict[str, Any] = {"step": 0, "evals": [], "trajectory": [], "seconds": 0.0, "train_seconds": 0.0,
                             "tokens": 0}
    checkpoint = storage.join(workdir, CHECKPOINT)
    resumed_from = 0
    saved = None
    if storage.exists(checkpoint):
        try:
            saved = _load(checkpoint, device)
        except Exception as exc:  # an unreadable checkpoint (e.g. from another torch version): start over
            say(f"{spec.run_id}: cannot read {checkpoint} ({exc}); starting from step 0")
    if saved is not None:
        if saved.get("key") == key:
            model.load_state_dict(saved["model"])
            optimizer.load_state_dict(saved["optimizer"])
            average.load_state_dict(saved["average"])
            if hasattr(schedule, "load_state_dict"):
                schedule.load_state_dict(saved.get("schedule", {}))
            state = saved["state"]
            resumed_from = state["step"]
            say(f"{spec.run_id}: resuming at step {resumed_from}/{steps}")
        else:
            say(f"{spec.run_id}: ignoring a checkpoint of different inputs in {workdir}")

    def snapshot() -> None:
        _save(checkpoint, {"key": key, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                           "average": average.state_dict(),
                           "schedule": schedule.state_dict() if hasattr(schedule, "state_dict") else {},
                           "state": state})

    def result(status: str, reason: str = "") -> TrainResult:
        extra = {
            "tokens_per_s": state["tokens"] / state["train_seconds"] if state["train_seconds"] else math.nan,
            "unigram_baseline": baseline, "weight_trajectory": state["trajectory"], "steps": steps,
            "tokens_per_step": preset.tokens_per_step, "threads": torch.get_num_threads(), "device": str(device),
            "resumed_from_step": resumed_from, "preset": preset.as_dict(tokenizer.vocab_size),
            "embedding_params": preset.embedding_params(tokenizer.vocab_size),
            "flops_per_token": preset.flops_per_token(tokenizer.vocab_size),
            "tokenizer": describe(tokenizer), "runtime": runtime.record(),
            "final_mixture": [float(x) for x in schedule.final_mixture()],
        }
        if tasks:
            extra["task_chance"] = tasks.chance()
        if status != "finished":
            return failed(spec, reason, seconds=state["seconds"], n_params=n_params, evals=state["evals"], **extra)
        table = run_rows(config, spec, state["evals"], n_params=n_params, trainer="builtin")
        return TrainResult(spec, "finished", "", table, state["seconds"], n_params, extra)

    make_source = getattr(schedule, "signal_source", None)  # online schedules: extra signals
    signal_source = make_source(RunView(model, data, spec.seed, device, runtime)) if make_source else None
    reweight = getattr(schedule, "sample_weights", None)  # instance-level loss reweighting
    prefetch = None
    if runtime.device == "cuda" and isinstance(schedule, StaticSchedule):  # batches do not depend on training
        static = schedule.weights(0)
        prefetch = BatchPrefetcher(lambda s: data.batch(static, spec.seed, s, preset.batch_size), device)

    started = time.perf_counter()
    base_seconds = state["seconds"]
    last_save = time.perf_counter()
    model.train()
    try:
        for step in range(state["step"], steps):
            tick = time.perf_counter()
            w = check_simplex(schedule.weights(step), len(domains), where=f"schedule at step {step}")
            if not state["trajectory"] or state["trajectory"][-1]["weights"] != [float(x) for x in w]:
                state["trajectory"].append({"step": step, "weights": [float(x) for x in w]})
            empty = [domains[i] for i in np.flatnonzero(w > 0) if totals[i] == 0]
            if empty:
                return result("failed", f"domain(s) {empty} have weight > 0 but no training tokens")
            if prefetch is not None:
                chosen, tokens = prefetch.get(step, steps)
            else:
                chosen, batch = data.batch(w, spec.seed, step, preset.batch_size)
                tokens = torch.from_numpy(batch).to(device)
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(preset, step, steps)
            weigh = None if reweight is None else (lambda losses: reweight(step, losses, chosen))  # noqa: B023
            per_token = train_step(forward, optimizer, tokens, weigh, micro_batch=runtime.micro_batch,
                                   autocast=runtime.autocast)
            average.update(model)
            per_seq = per_token.mean(1).cpu().numpy().astype(np.float64)
            value = float(per_seq.mean())
            if not math.isfinite(value) or value > too_high:
                state["seconds"] = base_seconds + time.perf_counter() - started
                kind = "non-finite" if not math.isfinite(value) else "diverged"
                return result("failed", f"{kind} training loss {value} nats/token at step {step + 1}/{steps}")
            count = np.bincount(chosen, minlength=len(domains))
            sums = np.bincount(chosen, weights=per_seq, minlength=len(domains))
            with np.errstate(invalid="ignore", divide="ignore"):
                domain_loss = np.where(count > 0, sums / np.maximum(count, 1), np.nan)
            signals = {"domain_loss": domain_loss, "domain_count": count, "loss": value}
            if signal_source is not None:
                signals.update(signal_source(step, tokens, chosen, per_token))
            schedule.observe(step, signals)
            state["step"] = step + 1
            state["tokens"] += preset.tokens_per_step
            state["train_seconds"] += time.perf_counter() - tick
            if step + 1 in at_eval:
                with average.swapped_into(model):
                    losses = bits_per_byte(forward, data.eval, data.eval_bytes, eod_id=data.eod_id,
                                           chunk=4 * runtime.micro_batch, device=device, autocast=runtime.autocast)
                    scores = tasks(forward, chunk=4 * runtime.micro_batch, device=device,
                                   autocast=runtime.autocast) if tasks else {}
                bad = {n: v for n, v in losses.items() if not (math.isfinite(v) or math.isnan(v))}
                if bad:
                    state["seconds"] = base_seconds + time.perf_counter() - started
                    return result("failed", f"non-finite validation loss {bad} at step {step + 1}")
                point = {"step": step + 1, "n_tokens": (step + 1) * preset.tokens_per_step, "loss": losses}
                if scores:
                    point["tasks"] = scores
                state["evals"].append(point)
                state["seconds"] = base_seconds + time.perf_counter() - started
                snapshot()
                last_save = time.perf_counter()
                say(f"{spec.run_id}: step {step + 1}/{steps}, train {value:.3f} nats/token, "
                    f"val {np.nanmean(list(losses.values())):.3f} bits/byte")
                if on_eval is not None:
                    on_eval(point)
            elif time.perf_counter() - last_save > CHECKPOINT_SECONDS:
                state["seconds"] = base_seconds + time.perf_counter() - started
                snapshot()
                last_save = time.perf_counter()
    finally:
        if prefetch is not None:
            prefetch.close()
    state["seconds"] = base_seconds + time.perf_counter() - started
    return result("finished")
