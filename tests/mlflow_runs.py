"""Log a realistic mixtures experiment into a real MLflow store, laid out per the conventions
(roles, params, metrics with steps, artifacts), and return what was logged so tests can check it."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mixtures import plots
from mixtures.evaluation.decision import DecisionQuality, gain_statement, log_decision, log_gain
from mixtures.tracking import Tracker

DOMAINS = ["code", "prose", "legal"]
TARGETS = ["loss_code", "loss_prose", "loss_legal", "loss_docs"]
PROXY_MIXTURES = {
    "natural": {"code": 0.2, "prose": 0.5, "legal": 0.3},
    "uniform": {"code": 1 / 3, "prose": 1 / 3, "legal": 1 / 3},
    "dirichlet-000": {"code": 0.6, "prose": 0.3, "legal": 0.1},
    "dirichlet-001": {"code": 0.1, "prose": 0.2, "legal": 0.7},
    "dirichlet-002": {"code": 0.45, "prose": 0.1, "legal": 0.45},
}
OPTIMAL = {"code": 0.35, "prose": 0.4, "legal": 0.25}
STEPS = [1000, 2000, 4000]
VALIDATION_TOKENS = 16000
# final validation objective per mixture and seed: optimal clearly lowest
VALIDATION_OBJECTIVE = {
    "optimal": [1.512, 1.518, 1.509],
    "natural": [1.561, 1.570, 1.566],
    "uniform": [1.583, 1.579, 1.590],
}


# the law fit's decision metrics: a noise floor above the optimum's predicted gain (GAIN)
DECISION = DecisionQuality(noise_floor=0.0041, noise_mixtures=1, noise_runs=3, oof_regret_at_1=0.0123, oof_rows=5,
                           best_measured=1.52)
GAIN = 0.0025


@dataclass
class Logged:
    """What :func:`log_experiment` wrote."""

    experiment: str
    pipeline_run: str = ""
    proxy_runs: list[str] = field(default_factory=list)
    law_fit_run: str = ""
    optimization_run: str = ""
    validation_runs: dict[str, list[str]] = field(default_factory=dict)
    predicted_objective: float = 1.5137
    cv_spearman: dict[str, float] = field(default_factory=dict)


def _losses(weights: dict[str, float], tokens: int, seed: int) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    out = {f"loss_{d}": 1.2 + 0.8 * (1 - weights[d]) ** 2 + 600.0 / tokens for d in DOMAINS}
    out["loss_docs"] = 1.5 + 0.3 * abs(weights["code"] - 0.35) + 0.2 * abs(weights["prose"] - 0.4) + 500.0 / tokens
    return {k: round(v + float(rng.normal(0, 0.002)), 6) for k, v in out.items()}


def _objective(losses: dict[str, float]) -> float:
    return round(float(np.mean([losses[t] for t in TARGETS])), 6)


def _run_params(name: str, weights: dict[str, float], model: str, tokens: int, seed: int) -> dict:
    return {**{f"w_{d}": f"{w:.6f}" for d, w in weights.items()}, "model": model, "n_params": 12288 if model == "tiny" else 49152,
            "n_tokens": tokens, "seed": seed, "trainer": "builtin", "mixture_name": name}


def log_experiment(tracker: Tracker, with_validation: bool = True, proxies: int | None = None) -> Logged:
    """Proxy runs (3 eval points each; the first ``proxies`` mixtures, default all), a law fit, an
    optimization and (optionally) validation runs for optimal / natural / uniform with 3 seeds,
    nested under a pipeline run."""
    logged = Logged(experiment=tracker.experiment)
    base = {"mixtures.pipeline": "abc123def456", "mixtures.project": "demo"}
    with tracker.run("pipeline demo", tags={**base, "mixtures.role": "pipeline"}) as parent:
        logged.pipeline_run = parent.run_id
    rows = []
    for name, weights in list(PROXY_MIXTURES.items())[:proxies]:
        run_name = f"{name}.tiny.4000.s0"
        tags = {**base, "mixtures.role": "proxy_run", "mixtures.mixture_name": name, "dagster.partition": run_name}
        with tracker.run(run_name, tags=tags, parent_run_id=parent.run_id) as run:
            run.log_params(_run_params(name, weights, "tiny", STEPS[-1], 0))
            for step in STEPS:
                losses = _losses(weights, step, hash(name) % 1000 + step)
                run.log_metrics({**losses, "objective": _objective(losses)}, step=step)
            logged.proxy_runs.append(run.run_id)
            rows.append({**{f"w_{d}": w for d, w in weights.items()}, **losses})
    table = pd.DataFrame(rows)
    with tracker.run("mixing_laws", tags={**base, "mixtures.role": "law_fit",
                                          **{f"mixtures.law_family.{t}": "exp" for t in TARGETS}},
                     parent_run_id=parent.run_id) as run:
        for i, target in enumerate(TARGETS):
            logged.cv_spearman[target] = round(0.93 - 0.04 * i, 4)
            run.log_metrics({f"cv_spearman.{target}": logged.cv_spearman[target], f"cv_pearson.{target}": 0.95 - 0.03 * i,
                             f"cv_mae.{target}": 0.011 + 0.002 * i, f"cv_mre.{target}": 0.007 + 0.001 * i,
                             f"extrapolation_mre.{target}": 0.02 + 0.005 * i})
        predicted = table[TARGETS] * 1.01
        run.log_figure(plots.predicted_vs_actual(table[TARGETS], predicted), "predicted_vs_actual.png")
        run.log_table(table, "cv.csv")
        log_decision(run, DECISION)
        logged.law_fit_run = run.run_id
    with tracker.run("optimal_mixture", tags={**base, "mixtures.role": "optimization", "mixtures.solver": "slsqp"},
                     parent_run_id=parent.run_id) as run:
        run.log_params({**{f"w_{d}": f"{w:.6f}" for d, w in OPTIMAL.items()}, "solver": "slsqp"})
        run.log_metrics({"predicted_objective": logged.predicted_objective, "evaluations": 412, "seconds": 0.84,
                         **{f"predicted.{t}": 1.45 + 0.05 * i for i, t in enumerate(TARGETS)}})
        run.log_dict({"weights": OPTIMAL}, "mixture.json")
        log_gain(run, *gain_statement(logged.predicted_objective, logged.predicted_objective + GAIN, "uniform",
                                      DECISION.noise_floor), GAIN)
        logged.optimization_run = run.run_id
    if not with_validation:
        return logged
    mixtures = {"optimal": OPTIMAL, "natural": PROXY_MIXTURES["natural"], "uniform": PROXY_MIXTURES["uniform"]}
    for name, weights in mixtures.items():
        logged.validation_runs[name] = []
        for seed, objective in enumerate(VALIDATION_OBJECTIVE[name]):
            run_name = f"{name}.small.{VALIDATION_TOKENS}.s{seed}"
            tags = {**base, "mixtures.role": "validation_run", "mixtures.mixture_name": name}
            with tracker.run(run_name, tags=tags, parent_run_id=parent.run_id) as run:
                run.log_params(_run_params(name, weights, "small", VALIDATION_TOKENS, seed))
                for step in (8000, VALIDATION_TOKENS):
                    losses = _losses(weights, step, seed * 7 + step)
                    final = objective if step == VALIDATION_TOKENS else objective + 0.1
                    run.log_metrics({**losses, "objective": final}, step=step)
                run.log_metrics({"predicted_objective": logged.predicted_objective})
                logged.validation_runs[name].append(run.run_id)
    log_verdict(tracker, VALIDATION_OBJECTIVE, parent_run_id=parent.run_id, tags=base)
    return logged


def log_verdict(tracker: Tracker, objectives: dict[str, list[float]], parent_run_id: str | None = None,
                tags: dict | None = None) -> dict:
    """The verdict the pipeline stores (``validation.json`` of a run tagged ``mixtures.role=validation``),
    judged by the evaluation core from per-seed objectives; returns the document."""
    import pandas as pd

    from mixtures.evaluation.verdict import verdict_from_runs

    results = pd.DataFrame([{"mixture_name": n, "seed": i, "objective": v}
                            for n, values in objectives.items() for i, v in enumerate(values)])
    document = verdict_from_runs(results).to_json()
    with tracker.run("validation verdict", tags={**(tags or {}), "mixtures.role": "validation"},
                     parent_run_id=parent_run_id) as run:
        run.log_dict(document, "validation.json")
    return document
