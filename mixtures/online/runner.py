"""One online proxy run: build the method's schedule, train, and report mixture, trajectory and cost."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mixtures.config import ProjectConfig, ScaleConfig
from mixtures.corpus.catalog import natural_mixture
from mixtures.runs import RunSpec, training_setup
from mixtures.errors import ConfigError, TrainerError
from mixtures.mixture import from_vector, to_vector, uniform_mixture
from mixtures.objective import objective_of
from mixtures.online.target import target_weights
from mixtures.trainers.result import TrainResult, eval_names

Log = Callable[[str], None]
ROLE = "online_run"


@dataclass
class OnlineResult:
    """What one online run produced.

    ``mixture``: the mixture the run stands for (average or final policy; for ``reweight`` each
    domain's share of the sample weight). ``trajectory``: ``[{"step", "weights"}]`` at every update.
    ``compute_tokens``: tokens trained + reference tokens + tokens of extra probe passes.
    ``overhead_seconds``: time in extra signals, reweighting and the reference's training.
    """

    method: str
    mixture: dict[str, float]
    trajectory: list[dict[str, Any]]
    overhead_seconds: float
    compute_tokens: int
    train: TrainResult
    seed: int
    scale: ScaleConfig
    train_tokens: int = 0
    reference_tokens: int = 0
    probe_tokens: int = 0
    objective: float = math.nan
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def mixture_name(self) -> str:
        return self.train.spec.mixture_name

    def to_json(self) -> dict[str, Any]:
        skip = {"history"}
        return {
            "method": self.method, "mixture": self.mixture, "seed": self.seed,
            "scale": {"model": self.scale.model, "tokens": self.scale.tokens},
            "overhead_seconds": self.overhead_seconds, "compute_tokens": self.compute_tokens,
            "train_tokens": self.train_tokens, "reference_tokens": self.reference_tokens,
            "probe_tokens": self.probe_tokens, "seconds": self.train.seconds,
            "objective": None if not math.isfinite(self.objective) else self.objective,
            "final_losses": self.train.final_losses(), "trajectory": self.trajectory,
            "details": {k: v for k, v in self.details.items() if k not in skip},
        }


def online_scale(config: ProjectConfig) -> ScaleConfig:
    """``online.scale``, else the largest proxy scale (most parameters x tokens)."""
    if config.online.scale is not None:
        return config.online.scale
    from mixtures.trainers.model import get_preset

    return max(config.proxy.scales, key=lambda s: (get_preset(s.model).n_params * s.tokens, s.tokens))


def initial_weights(config: ProjectConfig, catalog: pd.DataFrame) -> np.ndarray:
    mixture = natural_mixture(catalog) if config.online.init == "natural" else uniform_mixture(config.domain_names)
    return to_vector(mixture, config.domain_names)


def make_schedule(method: str, config: ProjectConfig, catalog: pd.DataFrame, *, reference: Any = None,
                  **overrides: Any):
    """The schedule of ``method`` (a name of :data:`~mixtures.online.ONLINE_METHODS`) with the ``online``
    section's parameters (``overrides`` win). A method that needs one gets ``reference`` (a torch model)."""
    from mixtures.online import ONLINE_METHODS, MethodSetup

    entry = ONLINE_METHODS.get(method)
    online = config.online
    setup = MethodSetup(init=initial_weights(config, catalog), names=eval_names(config),
                        targets=target_weights(config, catalog),
                        common={"steps_per_update": online.steps_per_update, "output": online.output},
                        section=getattr(online, method), reference=reference)
    return entry.build(setup, **overrides)


def online_spec(config: ProjectConfig, catalog: pd.DataFrame, method: str, seed: int | None = None,
                scale: ScaleConfig | None = None) -> RunSpec:
    """The online run of ``method``: it starts from ``online.init`` at ``scale`` (default :func:`online_scale`)
    with seed ``seed`` (default ``config.seed``); the ``online`` section's parameters are part of its spec, so
    changing them is another run."""
    from mixtures.online import ONLINE_METHODS

    ONLINE_METHODS.get(method)
    scale = scale or online_scale(config)
    options = config.online.model_dump(mode="json", exclude={"methods", "scale"})
    return RunSpec.create(f"online-{method}", from_vector(initial_weights(config, catalog), config.domain_names),
                          scale.model, scale.tokens, config.seed if seed is None else seed, kind="online",
                          method=method, options=options, threads=config.launch.threads,
                          setup=training_setup(config, catalog))


def run_online(
    config: ProjectConfig,
    catalog: pd.DataFrame,
    spec: RunSpec,
    *,
    workdir: str | Path,
    log: Log | None = None,
    **overrides: Any,
) -> OnlineResult:
    """Train the online proxy run ``spec`` (:func:`online_spec`) in ``workdir`` (its checkpoint lives there,
    so a killed run resumes with its schedule state). DoReMi first trains (or reuses) its reference."""
    from mixtures.online import ONLINE_METHODS
    from mixtures.trainers import train_proxy

    if config.proxy.trainer != "builtin":
        raise ConfigError("online methods run inside the built-in trainer; set proxy.trainer: builtin.")
    method, seed = str(spec.method), int(spec.seed)
    scale = ScaleConfig(model=spec.model, tokens=int(spec.tokens))
    reference = None
    reference_tokens, reference_seconds = 0, 0.0
    details: dict[str, Any] = {}
    if ONLINE_METHODS.get(method).needs_reference:
        from mixtures.online.reference import reference_spec, train_reference

        ref_spec = reference_spec(config, catalog, config.online.doremi.reference, scale.model, scale.tokens, seed)
        reference = train_reference(config, catalog, ref_spec, log=log)
        reference_tokens = int(reference.result.extra["steps"] * reference.result.extra["tokens_per_step"])
        reference_seconds = float(reference.result.seconds)
        details["reference"] = {"run_id": ref_spec.run_id, "cached": reference.cached, "seconds": reference_seconds,
                                "final_losses": reference.result.final_losses()}
    schedule = make_schedule(method, config, catalog, reference=None if reference is None else reference.model,
                             **overrides)
    result = train_proxy(config, spec, catalog, workdir, log=log, schedule=schedule)
    if not result.finished:
        raise TrainerError(f"online run {spec.run_id} failed: {result.reason}")
    summary = schedule.summary()
    details.update({k: v for k, v in summary.items() if k not in ("overhead_seconds", "probe_tokens")})
    details["sampled_trajectory"] = result.extra.get("weight_trajectory", [])
    mixture = from_vector(schedule.final_mixture(), config.domain_names)
    train_tokens = int(result.extra["steps"] * result.extra["tokens_per_step"])
    probe_tokens = int(summary["probe_tokens"])
    return OnlineResult(
        method=method, mixture=mixture, trajectory=schedule.history,
        overhead_seconds=float(summary["overhead_seconds"]) + reference_seconds,
        compute_tokens=train_tokens + reference_tokens + probe_tokens, train=result, seed=seed, scale=scale,
        train_tokens=train_tokens, reference_tokens=reference_tokens, probe_tokens=probe_tokens,
        objective=objective_of(result.final_losses(), target_weights(config, catalog)), details=details,
    )
