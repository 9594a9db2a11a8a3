"""Online mixtures beside the baselines (and the offline law's optimum) at the validation scale.

Each online method derives its mixture in one online run (a partition of ``online_runs``: seed
``config.seed``, the online scale). :func:`comparison_design` then plans, as ``validation_runs``
partitions, every mixture (natural, uniform, the offline optimum if ``optimal_mixture.json`` exists, and
each online mixture) at the validation scale once per seed; natural, uniform and the optimum are the very
runs the pipeline's validation trains, so they are reused. :func:`compare_methods` judges the stored
runs by the target objective (lower is better). ``reweight`` is a training procedure rather than a
mixture, so its validation runs train with the reweighting itself.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from mixtures.config import ProjectConfig, ScaleConfig
from mixtures.corpus.catalog import natural_mixture
from mixtures.errors import MixturesError
from mixtures.evaluation.baselines import OPTIMAL
from mixtures.evaluation.scale import validation_scale, validation_specs
from mixtures.layout import OPTIMAL_MIXTURE, project_file
from mixtures.mixture import uniform_mixture, validate_mixture
from mixtures.objective import objective_of, objective_weights
from mixtures.online.registry import ONLINE_METHODS
from mixtures.online.runner import online_spec
from mixtures.online.target import target_weights
from mixtures.runs import RunSpec
from mixtures.runs.store import RunStore

OFFLINE = "offline_optimal"  # how the comparison names the offline law's optimum (its runs are the pipeline's)


def offline_optimum(config: ProjectConfig) -> dict[str, float] | None:
    """The offline law's optimum from ``<root>/optimal_mixture.json`` (its ``weights``), if present."""
    path = project_file(config, OPTIMAL_MIXTURE)
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
    comparisons: list[dict[str, Any]] = field(default_factory=list)
    verdict: str = ""
    verdict_source: str = ""

    def stats(self) -> pd.DataFrame:
        rows = {}
        for name, group in self.runs.groupby("mixture_name", sort=False):
            values = group["objective"].dropna().to_numpy(dtype=float)
            rows[name] = {"mean": float(values.mean()) if len(values) else math.nan,
                          "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0, "n": len(values)}
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


def judge(runs: pd.DataFrame, candidates: Sequence[str], baselines: Sequence[str]) -> tuple[list[dict[str, Any]], str]:
    """Each candidate against each baseline with :func:`mixtures.evaluation.verdict.verdict_from_runs`
    (a win or loss needs a mean difference above the seed spread and Welch's test below 0.05)."""
    from mixtures.evaluation.verdict import verdict_from_runs

    out = []
    for candidate in candidates:
        present = [b for b in baselines if (runs["mixture_name"] == b).any()]
        if not (runs["mixture_name"] == candidate).any() or not present:
            continue
        frame = runs[runs["mixture_name"].isin([candidate, *present])].copy()
        frame["mixture_name"] = frame["mixture_name"].replace({candidate: "optimal"})
        verdict = verdict_from_runs(frame[["mixture_name", "seed", "objective"]], baselines=present)
        out.extend({"method": candidate, "baseline": c.baseline, "improvement": c.improvement, "noise": c.noise,
                    "p_value": _num(c.p_value), "outcome": c.outcome} for c in verdict.comparisons)
    return out, "mixtures.evaluation.verdict.verdict_from_runs"


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


def online_specs(config: ProjectConfig, catalog: pd.DataFrame, methods: Sequence[str]) -> list[RunSpec]:
    """The online run of each method (one ``online_runs`` partition each)."""
    if not methods:
        raise MixturesError("compare-methods needs at least one online method.")
    return [online_spec(config, catalog, method) for method in methods]


def _run_name(display: str) -> str:
    return OPTIMAL if display == OFFLINE else display


def comparison_design(config: ProjectConfig, catalog: pd.DataFrame, store: RunStore, methods: Sequence[str],
                      seeds: Sequence[int]) -> dict[str, Any]:
    """The validation runs of the comparison, once every method's online run is stored: natural, uniform, the
    offline optimum (if any) and each online mixture, per seed. A JSON document (its ``runs`` are the specs)."""
    if not seeds:
        raise MixturesError("compare-methods needs at least one seed.")
    scale = validation_scale(config)
    mixtures: dict[str, dict[str, float]] = {"natural": natural_mixture(catalog),
                                              "uniform": uniform_mixture(config.domain_names)}
    compute: dict[str, dict[str, Any]] = {name: {"proxy_tokens": 0, "online_tokens": 0, "overhead_seconds": 0.0}
                                          for name in mixtures}
    optimum = offline_optimum(config)
    if optimum is not None:
        mixtures[OFFLINE] = optimum
        compute[OFFLINE] = {"proxy_tokens": proxy_sweep_tokens(config), "online_tokens": 0, "overhead_seconds": 0.0,
                            "note": "proxy sweep as configured (proxy.n_mixtures x scales x seeds)"}
    starts: dict[str, dict[str, float]] = {}
    for spec in online_specs(config, catalog, methods):
        stored = store.finished(spec)
        if stored is None:
            raise MixturesError(f"online run {spec.run_id} has no stored result; materialize its online_runs "
                                "partition first.")
        online = stored.extra["online"]
        mixtures[spec.method] = dict(online["mixture"])
        starts[spec.method] = dict(spec.weights)
        compute[spec.method] = {"proxy_tokens": 0, "online_tokens": int(online["compute_tokens"]),
                                "overhead_seconds": float(online["overhead_seconds"])}
    procedures = [name for name in starts if ONLINE_METHODS.get(name).is_procedure]
    # a procedure is validated by training with it, from its starting mixture
    planned = {_run_name(name): starts[name] if name in procedures else weights for name, weights in mixtures.items()}
    specs = validation_specs(config, catalog, planned, seeds=[int(s) for s in seeds],
                             methods={name: name for name in procedures})
    runs = [spec.record() for spec in specs]
    return {"methods": list(methods), "seeds": [int(s) for s in seeds],
            "scale": {"model": scale.model, "tokens": int(scale.tokens)}, "mixtures": mixtures, "compute": compute,
            "target": target_weights(config, catalog), "objective_weights": objective_weights(config, natural_mixture(catalog)),
            "runs": runs}


def compare_methods(store: RunStore, design: dict[str, Any]) -> MethodsComparison:
    """Judge the stored validation runs of a :func:`comparison_design`."""
    rows = []
    for record in design["runs"]:
        spec = RunSpec.from_record(record)
        stored = store.finished(spec)
        display = OFFLINE if spec.mixture_name == OPTIMAL else spec.mixture_name
        if stored is None:
            rows.append({"mixture_name": display, "seed": spec.seed, "objective": math.nan})
            continue
        losses = stored.final_losses()
        rows.append({"mixture_name": display, "seed": spec.seed,
                     "objective": objective_of(losses, design["objective_weights"]), **losses})
    runs = pd.DataFrame(rows)
    methods = list(design["methods"])
    scale = ScaleConfig(**design["scale"])
    comparison = MethodsComparison(scale, list(design["seeds"]), design["target"], runs, design["mixtures"],
                                   design["compute"])
    baselines = [b for b in ("natural", "uniform", OFFLINE) if b in design["mixtures"]]
    finite = runs.dropna(subset=["objective"])
    comparison.comparisons, comparison.verdict_source = judge(finite, methods, baselines)
    comparison.verdict = verdict_sentence(comparison.stats(), comparison.comparisons, methods, baselines,
                                          design["compute"])
    return comparison
