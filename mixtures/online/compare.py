"""Online mixtures beside the baselines (and the offline law's optimum) at the validation scale.

Each online method derives its mixture in one online proxy run (seed ``config.seed``, the online
scale); every mixture (natural, uniform, the offline optimum if ``<root>/optimal_mixture.json``
exists, and each online mixture) is then trained with the built-in trainer and a static schedule
at the validation scale, once per seed, and judged by the target objective (lower is better).
``reweight`` is a training procedure rather than a mixture, so its validation runs train with the
reweighting itself (natural/initial sampling plus loss-based sample weights).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from mixtures.config import ProjectConfig, ScaleConfig
from mixtures.corpus.catalog import natural_mixture
from mixtures.runs import RunSpec
from mixtures.errors import MixturesError, TrainerError
from mixtures.mixture import uniform_mixture, validate_mixture
from mixtures.online.runner import OnlineResult, online_scale, run_online
from mixtures.online.target import objective, target_weights
from mixtures.validation_scale import validation_scale

Log = Callable[[str], None]
OPTIMAL_FILE = "optimal_mixture.json"
OFFLINE = "offline_optimal"
def offline_optimum(config: ProjectConfig) -> dict[str, float] | None:
    """The offline law's optimum from ``<root>/optimal_mixture.json`` (its ``weights``), if present."""
    path = config.root / OPTIMAL_FILE
    if not path.exists():
        return None
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise MixturesError(f"{path}: not a readable JSON mixture ({exc}); remove it or re-run the optimizer.") from None
    weights = document.get("weights", document) if isinstance(document, dict) else None
    if not isinstance(weights, dict):
        raise MixturesError(f"{path}: expected {{'weights': {{domain: weight}}}}; got {type(weights).__name__}.")
    return validate_mixture({k: float(v) for k, v in weights.items()}, config.domain_names, where=str(path))


def proxy_sweep_tokens(config: ProjectConfig) -> int:
    """Training tokens of the configured proxy sweep (mixtures x scales x seeds) the offline law needs."""
    return int(config.proxy.n_mixtures * len(config.proxy.seeds) * sum(s.tokens for s in config.proxy.scales))


@dataclass
class MethodsComparison:
    """Validation results per mixture and seed, the compute each method spent, and the verdict."""

    scale: ScaleConfig
    seeds: list[int]
    target: dict[str, float]
    runs: pd.DataFrame                       # mixture_name, seed, objective, loss_<name>...
    mixtures: dict[str, dict[str, float]]
    compute: dict[str, dict[str, float]]
    online: dict[str, OnlineResult] = field(default_factory=dict)
    comparisons: list[dict[str, Any]] = field(default_factory=list)
    verdict: str = ""
    verdict_source: str = ""

    def stats(self) -> pd.DataFrame:
        rows = {}
        for name, group in self.runs.groupby("mixture_name", sort=False):
            values = group["objective"].to_numpy(dtype=float)
            rows[name] = {"mean": float(values.mean()), "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
                          "n": len(values)}
        return pd.DataFrame.from_dict(rows, orient="index")

    def to_json(self) -> dict[str, Any]:
        stats = self.stats()
        methods = {}
        for name, mixture in self.mixtures.items():
            row = stats.loc[name] if name in stats.index else None
            values = self.runs.loc[self.runs["mixture_name"] == name].sort_values("seed")
            methods[name] = {
                "mixture": mixture,
                "mean": _num(row["mean"]) if row is not None else None,
                "std": _num(row["std"]) if row is not None else None,
                "n": int(row["n"]) if row is not None else 0,
                "objectives": {int(s): _num(v) for s, v in zip(values["seed"], values["objective"], strict=True)},
                "compute": self.compute.get(name, {}),
            }
        return {"scale": {"model": self.scale.model, "tokens": self.scale.tokens}, "seeds": self.seeds,
                "target": self.target, "methods": methods, "comparisons": self.comparisons,
                "verdict": self.verdict, "verdict_source": self.verdict_source}


def _num(value: Any) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def _weights_key(weights: dict[str, float]) -> str:
    return hashlib.sha256(json.dumps(weights, sort_keys=True).encode()).hexdigest()[:10]


def judge(runs: pd.DataFrame, candidates: Sequence[str], baselines: Sequence[str]) -> tuple[list[dict[str, Any]], str]:
    """Each candidate against each baseline with :func:`mixtures.validation.validation_verdict`
    (a win or loss needs a mean difference above the seed spread and Welch's test below 0.05)."""
    from mixtures.validation import validation_verdict

    out = []
    for candidate in candidates:
        present = [b for b in baselines if (runs["mixture_name"] == b).any()]
        if not (runs["mixture_name"] == candidate).any() or not present:
            continue
        frame = runs[runs["mixture_name"].isin([candidate, *present])].copy()
        frame["mixture_name"] = frame["mixture_name"].replace({candidate: "optimal"})
        verdict = validation_verdict(frame[["mixture_name", "seed", "objective"]], baselines=present)
        out.extend({"method": candidate, "baseline": c.baseline, "improvement": c.improvement, "noise": c.noise,
                    "p_value": _num(c.p_value), "outcome": c.outcome} for c in verdict.comparisons)
    return out, "mixtures.validation.validation_verdict"


def verdict_sentence(stats: pd.DataFrame, comparisons: list[dict[str, Any]], online: Sequence[str],
                     baselines: Sequence[str], compute: dict[str, dict[str, Any]] | None = None) -> str:
    """One honest paragraph: the best mixture, each online method against the best baseline (and
    against the offline optimum when it is not that baseline), and what each method spent."""
    if stats.empty:
        return "No validation run finished; nothing to compare."
    best = stats["mean"].idxmin()
    parts = [f"Lowest target objective: {best} ({stats.loc[best, 'mean']:.4f} +- {stats.loc[best, 'std']:.4f}, "
             f"n={int(stats.loc[best, 'n'])})."]
    present = [b for b in baselines if b in stats.index]
    words = {"win": "beats", "loss": "LOSES to", "tie": "ties (within seed noise) with"}
    if present:
        best_base = min(present, key=lambda b: stats.loc[b, "mean"])
        for method in online:
            entry = next((c for c in comparisons if c["method"] == method and c["baseline"] == best_base), None)
            if entry is None:
                continue
            parts.append(f"{method} {words[entry['outcome']]} the best baseline {best_base} "
                         f"(difference {entry['improvement']:+.4f}, seed spread {entry['noise']:.4f}).")
        if OFFLINE in present and OFFLINE != best_base:
            against = [f"{c['method']} {c['outcome']}" for c in comparisons if c["baseline"] == OFFLINE]
            if against:
                parts.append(f"Against the offline law's optimum: {', '.join(against)}.")
        if not any(c["outcome"] == "win" for c in comparisons if c["baseline"] == best_base):
            parts.append("No online method clearly beats the best baseline at this scale.")
    if compute:
        spent = [f"{name} {int(c.get('online_tokens', 0)):,} online tokens" for name, c in compute.items()
                 if c.get("online_tokens")]
        if OFFLINE in compute:
            spent.append(f"{OFFLINE} {int(compute[OFFLINE]['proxy_tokens']):,} proxy-sweep tokens")
        if spent:
            parts.append("Compute to choose the mixture: " + "; ".join(spent) + ".")
    return " ".join(parts)


def compare_methods(
    config: ProjectConfig,
    catalog: pd.DataFrame,
    methods: Sequence[str],
    seeds: Sequence[int],
    *,
    scale: ScaleConfig | None = None,
    log: Log | None = None,
    on_online: Callable[[OnlineResult], None] | None = None,
    on_validation: Callable[[RunSpec, Any, float], None] | None = None,
) -> MethodsComparison:
    """Derive each online mixture, train every mixture at the validation scale for each seed, and judge.

    ``on_online`` / ``on_validation`` receive each finished run (e.g. to log it to MLflow).
    """
    from mixtures.online.runner import make_schedule
    from mixtures.trainers import train_proxy

    say = log or (lambda message: None)
    if not seeds:
        raise MixturesError("compare-methods needs at least one seed.")
    scale = scale or validation_scale(config)
    targets = target_weights(config, catalog)
    mixtures: dict[str, dict[str, float]] = {"natural": natural_mixture(catalog),
                                              "uniform": uniform_mixture(config.domain_names)}
    proxy_scale = online_scale(config)
    compute: dict[str, dict[str, float]] = {"natural": {"proxy_tokens": 0, "online_tokens": 0, "overhead_seconds": 0.0},
                                            "uniform": {"proxy_tokens": 0, "online_tokens": 0, "overhead_seconds": 0.0}}
    optimum = offline_optimum(config)
    if optimum is not None:
        mixtures[OFFLINE] = optimum
        compute[OFFLINE] = {"proxy_tokens": proxy_sweep_tokens(config), "online_tokens": 0, "overhead_seconds": 0.0,
                            "note": "proxy sweep as configured (proxy.n_mixtures x scales x seeds)"}
    online: dict[str, OnlineResult] = {}
    for method in methods:
        say(f"online {method}: deriving the mixture at {proxy_scale.model}/{proxy_scale.tokens} tokens "
            f"(seed {config.seed})")
        result = run_online(config, catalog, method, config.seed, proxy_scale, log=log)
        online[method] = result
        mixtures[method] = result.mixture
        compute[method] = {"proxy_tokens": 0, "online_tokens": result.compute_tokens,
                           "overhead_seconds": result.overhead_seconds}
        if on_online is not None:
            on_online(result)

    rows = []
    for name, weights in mixtures.items():
        for seed in seeds:
            spec = RunSpec(RunSpec.make_run_id(name, scale.model, scale.tokens, seed), name, weights, scale.model,
                             int(scale.tokens), int(seed))
            schedule = None
            if name == "reweight":  # a training procedure: validate it by training with it
                schedule = make_schedule("reweight", config, catalog)
                spec = RunSpec(spec.run_id, name, online["reweight"].train.spec.weights, scale.model,
                                 int(scale.tokens), int(seed))
            workdir = config.root / "online" / "validation" / f"{spec.run_id}-{_weights_key(spec.weights)}"
            say(f"validation {spec.run_id}")
            result = train_proxy(config, spec, catalog, workdir, log=log, schedule=schedule)
            if not result.finished:
                raise TrainerError(f"validation run {spec.run_id} failed: {result.reason}")
            losses = result.final_losses()
            value = objective(losses, targets)
            if schedule is not None:
                compute[name]["overhead_seconds"] += float(schedule.stats["overhead_seconds"])
            rows.append({"mixture_name": name, "seed": int(seed), "objective": value,
                         **{f"loss_{k}": v for k, v in losses.items()}})
            if on_validation is not None:
                on_validation(spec, result, value)
    runs = pd.DataFrame(rows)
    comparison = MethodsComparison(scale, [int(s) for s in seeds], targets, runs, mixtures, compute, online)
    baselines = [b for b in ("natural", "uniform", OFFLINE) if b in mixtures]
    comparison.comparisons, comparison.verdict_source = judge(runs, list(methods), baselines)
    comparison.verdict = verdict_sentence(comparison.stats(), comparison.comparisons, list(methods), baselines,
                                          compute)
    return comparison


def comparison_path(config: ProjectConfig) -> Path:
    return config.root / "online" / "compare_methods.json"
