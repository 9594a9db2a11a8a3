"""The built-in proxy trainer: a byte-level transformer trained on a mixture, evaluated in bits/byte.

One run draws every batch by the schedule's domain weights (seeded per step, so a resumed run
draws the same batches), evaluates the per-domain validation loss of every training domain and
held-out target set at ``config.proxy.eval_points`` points along the token budget (on a moving
average of the weights, :class:`WeightAverage`), and saves an
atomic checkpoint under ``workdir`` at every eval point (and at least every
``CHECKPOINT_SECONDS``). A killed run started again with the same inputs resumes from its last
checkpoint and ends with the same losses. Losses that are not finite, or that blow up, end the
run as ``failed``.
"""

from __future__ import annotations

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
from mixtures.errors import TrainerError
from mixtures.mixture import to_vector, validate_mixture
from mixtures.storage import atomic_write_bytes
from mixtures.trainers.baseline import byte_histogram, unigram_bits
from mixtures.trainers.model import ModelPreset, build_model, get_preset
from mixtures.trainers.result import TrainResult, eval_names, failed, run_rows
from mixtures.trainers.schedule import MixtureSchedule, StaticSchedule, check_simplex
from mixtures.trainers.tokens import EOD, check_tokenizer, content_key, domain_tokens, eval_windows

TRAINER_VERSION = 2          # 2: evaluated on an exponential moving average of the weights
EVAL_TOKENS = 8192          # at most this many validation tokens per domain and eval point (fixed windows)
MIN_EVAL_TOKENS = 2048
CHECKPOINT_SECONDS = 30.0
DIVERGED_NATS = 3 * math.log(256)  # far above a uniform guess over bytes
WARMUP_STEPS = 20
EMA_DECAY = 0.99            # evaluation weights: an exponential moving average of the trained ones
CHECKPOINT = "checkpoint.pt"

Log = Callable[[str], None]


def eval_steps(total_steps: int, points: int) -> list[int]:
    """The (1-based) steps after which the run is evaluated; the last one is ``total_steps``."""
    return sorted({max(1, round(k * total_steps / points)) for k in range(1, points + 1)})


def eval_tokens_for(budget: int) -> int:
    """Validation tokens per eval name and eval point: 1/16 of the budget within [2048, 8192]
    (so evaluation costs a short run no more than its training)."""
    return int(min(EVAL_TOKENS, max(MIN_EVAL_TOKENS, budget // 16)))


def learning_rate(preset: ModelPreset, step: int, total: int) -> float:
    """Linear warm-up over the first ``WARMUP_STEPS`` steps, then constant.

    No decay, and a warm-up that does not depend on the run's length: a run's loss at D tokens is the
    same whatever its total budget (same seed, same data order), so the eval points along a run are
    the points a shorter run would end at, and laws can extrapolate along D from them.
    """
    if step < WARMUP_STEPS:
        return preset.lr * (step + 1) / WARMUP_STEPS
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


class _Data:
    """Training arrays per domain and evaluation windows per eval name."""

    def __init__(self, config: ProjectConfig, catalog: pd.DataFrame, preset: ModelPreset, eval_tokens: int) -> None:
        self.seq_len = preset.seq_len
        self.train: list[np.ndarray] = []
        self.eval: dict[str, np.ndarray] = {}
        self.keys: dict[str, str] = {}
        width = preset.seq_len + 1
        for name in eval_names(config):
            splits = domain_tokens(config, catalog, name)
            self.keys[name] = content_key(catalog, name)
            self.eval[name] = eval_windows(splits["val"], preset.seq_len, max(1, eval_tokens // preset.seq_len))
            if name in config.domain_names:
                train = splits["train"]
                self.train.append(np.resize(np.asarray(train), width) if 0 < len(train) < width else train)

    def batch(self, weights: np.ndarray, seed: int, step: int, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        """``(domain index per sequence, (batch, seq+1) tokens)``, a pure function of (seed, step)."""
        rng = np.random.default_rng([seed, step, 0xBA7C])
        domains = rng.choice(len(weights), size=batch_size, p=weights)
        width = self.seq_len + 1
        out = np.empty((batch_size, width), dtype=np.int64)
        for i, d in enumerate(domains):
            tokens = self.train[d]
            if len(tokens) == 0:
                raise TrainerError(f"domain #{d} has weight > 0 but no training tokens.")
            start = int(rng.integers(0, len(tokens) - width + 1))
            out[i] = tokens[start:start + width]
        return domains, out


def _run_key(config: ProjectConfig, spec: RunSpec, preset: ModelPreset, data: _Data, steps: int) -> str:
    payload = {
        "version": TRAINER_VERSION, "run_id": spec.run_id, "weights": spec.weights, "seed": spec.seed,
        "preset": preset.as_dict(), "steps": steps, "eval_points": config.proxy.eval_points,
        "data": data.keys, "val_fraction": config.corpus.val_fraction,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def _evaluate(model, data: _Data, batch_size: int, device) -> dict[str, float]:
    """Bits per byte per eval name on its fixed windows (end-of-document targets excluded)."""
    import torch
    from torch.nn import functional as F

    out: dict[str, float] = {}
    model.eval()
    with torch.no_grad():
        for name, windows in data.eval.items():
            if len(windows) == 0:
                out[name] = math.nan
                continue
            nats, count = 0.0, 0
            for lo in range(0, len(windows), 4 * batch_size):
                chunk = torch.from_numpy(windows[lo:lo + 4 * batch_size].astype(np.int64)).to(device)
                logits = model(chunk[:, :-1])
                target = chunk[:, 1:]
                loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1), reduction="none")
                keep = target.reshape(-1) != EOD
                nats += float(loss[keep].sum())
                count += int(keep.sum())
            out[name] = nats / max(count, 1) / math.log(2) if count else math.nan
    model.train()
    return out


def make_optimizer(model, preset: ModelPreset):
    """AdamW as the built-in trainer uses it."""
    import torch

    return torch.optim.AdamW(model.parameters(), lr=preset.lr, betas=(0.9, 0.95), weight_decay=0.1, foreach=True)


def train_step(model, optimizer, tokens, sample_weights: Callable[[np.ndarray], np.ndarray] | None = None):
    """One optimizer step on a ``(batch, seq+1)`` token tensor; returns the per-token losses (nats).

    ``sample_weights`` (per-sequence mean losses -> weights) makes the loss a weighted mean over
    sequences (instance-level reweighting, :mod:`mixtures.online.reweight`)."""
    import torch
    from torch.nn import functional as F

    logits = model(tokens[:, :-1])
    per_token = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tokens[:, 1:].reshape(-1), reduction="none")
    if sample_weights is None:
        loss = per_token.mean()
    else:
        per_seq = per_token.view(tokens.shape[0], -1).mean(1)
        weights = torch.as_tensor(sample_weights(per_seq.detach().cpu().numpy().astype(np.float64)),
                                  dtype=per_seq.dtype, device=per_seq.device)
        loss = (per_seq * weights).sum() / weights.sum()
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    return per_token


def _save(path: Path, state: dict) -> None:
    import torch

    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write_bytes(path, buffer.getvalue())


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
    check_tokenizer(config)
    preset = get_preset(spec.model)
    domains = config.domain_names
    weights = to_vector(validate_mixture(spec.weights, domains, where=f"run {spec.run_id}"), domains)
    schedule = schedule if schedule is not None else StaticSchedule(weights)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)

    torch.set_num_threads(int(spec.threads))  # fixed by the spec: the same losses wherever it runs
    torch.use_deterministic_algorithms(True, warn_only=True)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")

    data = _Data(config, catalog, preset, eval_tokens_for(spec.tokens))
    steps = max(1, math.ceil(spec.tokens / preset.tokens_per_step))
    at_eval = set(eval_steps(steps, config.proxy.eval_points))
    key = _run_key(config, spec, preset, data, steps)
    totals = [len(t) for t in data.train]
    histograms = [byte_histogram(t) for t in data.train]
    baseline = unigram_bits(histograms, weights, data.eval)

    torch.manual_seed(spec.seed)
    model = build_model(preset).to(device)
    n_params = model.non_embedding_params()
    optimizer = make_optimizer(model, preset)
    average = WeightAverage(model)
    state: dict[str, Any] = {"step": 0, "evals": [], "trajectory": [], "seconds": 0.0, "train_seconds": 0.0,
                             "tokens": 0}
    checkpoint = workdir / CHECKPOINT
    resumed_from = 0
    saved = None
    if checkpoint.exists():
        try:
            saved = torch.load(checkpoint, map_location=device, weights_only=False)
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
            "resumed_from_step": resumed_from, "preset": preset.as_dict(),
            "final_mixture": [float(x) for x in schedule.final_mixture()],
        }
        if status != "finished":
            return failed(spec, reason, seconds=state["seconds"], n_params=n_params, evals=state["evals"], **extra)
        table = run_rows(config, spec, state["evals"], n_params=n_params, trainer="builtin")
        return TrainResult(spec, "finished", "", table, state["seconds"], n_params, extra)

    signal_source = None
    if getattr(schedule, "needs", None):  # online schedules: extra signals (mixtures.online.signals)
        from mixtures.online.signals import SignalSource

        signal_source = SignalSource(schedule, data, model, spec.seed, device)
    reweight = getattr(schedule, "sample_weights", None)  # instance-level loss reweighting

    started = time.perf_counter()
    base_seconds = state["seconds"]
    last_save = time.perf_counter()
    model.train()
    for step in range(state["step"], steps):
        tick = time.perf_counter()
        w = check_simplex(schedule.weights(step), len(domains), where=f"schedule at step {step}")
        if not state["trajectory"] or state["trajectory"][-1]["weights"] != [float(x) for x in w]:
            state["trajectory"].append({"step": step, "weights": [float(x) for x in w]})
        empty = [domains[i] for i in np.flatnonzero(w > 0) if totals[i] == 0]
        if empty:
            return result("failed", f"domain(s) {empty} have weight > 0 but no training tokens")
        chosen, batch = data.batch(w, spec.seed, step, preset.batch_size)
        tokens = torch.from_numpy(batch).to(device)
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(preset, step, steps)
        weigh = None if reweight is None else (lambda losses: reweight(step, losses, chosen))  # noqa: B023
        per_token = train_step(model, optimizer, tokens, weigh)
        average.update(model)
        per_seq = per_token.detach().view(preset.batch_size, -1).mean(1).cpu().numpy().astype(np.float64)
        value = float(per_seq.mean())
        if not math.isfinite(value) or value > DIVERGED_NATS:
            state["seconds"] = base_seconds + time.perf_counter() - started
            kind = "non-finite" if not math.isfinite(value) else "diverged"
            return result("failed", f"{kind} training loss {value} nats/byte at step {step + 1}/{steps}")
        count = np.bincount(chosen, minlength=len(domains))
        sums = np.bincount(chosen, weights=per_seq, minlength=len(domains))
        with np.errstate(invalid="ignore", divide="ignore"):
            domain_loss = np.where(count > 0, sums / np.maximum(count, 1), np.nan)
        signals = {"domain_loss": domain_loss, "domain_count": count, "loss": value}
        if signal_source is not None:
            signals.update(signal_source(step, tokens, chosen, per_token.detach().view(preset.batch_size, -1)))
        schedule.observe(step, signals)
        state["step"] = step + 1
        state["tokens"] += preset.tokens_per_step
        state["train_seconds"] += time.perf_counter() - tick
        if step + 1 in at_eval:
            with average.swapped_into(model):
                losses = _evaluate(model, data, preset.batch_size, device)
            bad = {n: v for n, v in losses.items() if not (math.isfinite(v) or math.isnan(v))}
            if bad:
                state["seconds"] = base_seconds + time.perf_counter() - started
                return result("failed", f"non-finite validation loss {bad} at step {step + 1}")
            point = {"step": step + 1, "n_tokens": (step + 1) * preset.tokens_per_step, "loss": losses}
            state["evals"].append(point)
            state["seconds"] = base_seconds + time.perf_counter() - started
            snapshot()
            last_save = time.perf_counter()
            say(f"{spec.run_id}: step {step + 1}/{steps}, train {value / math.log(2):.3f} bits/byte, "
                f"val {np.nanmean(list(losses.values())):.3f} bits/byte")
            if on_eval is not None:
                on_eval(point)
        elif time.perf_counter() - last_save > CHECKPOINT_SECONDS:
            state["seconds"] = base_seconds + time.perf_counter() - started
            snapshot()
            last_save = time.perf_counter()
    state["seconds"] = base_seconds + time.perf_counter() - started
    return result("finished")
