"""Where the chosen mixture is checked: the validation scale, its runs, and the baselines.

The validation scale defaults to the next model preset above the largest proxy, with enough
tokens for at least 4x the proxy's compute (6 N D) and more tokens than the proxy saw, so the
check is made where the law was not fitted.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import pandas as pd

from mixtures.config import ProjectConfig, ScaleConfig
from mixtures.runs import RunSpec
from mixtures.objective import objective_of

COMPUTE_FACTOR = 4.0
MIN_TOKEN_FACTOR = 1.5


def preset_params(model: str) -> int:
    """Non-embedding parameters of a built-in model preset."""
    from mixtures.trainers import get_preset

    return get_preset(model).n_params


def _largest_proxy(config: ProjectConfig) -> ScaleConfig:
    return max(config.proxy.scales, key=lambda s: (preset_params(s.model) * s.tokens, s.tokens))


def validation_scale(config: ProjectConfig) -> ScaleConfig:
    """``validation.scale`` if set, else the next preset up with >= 4x the largest proxy's compute."""
    if config.validation.scale is not None:
        return config.validation.scale
    from mixtures.trainers import MODEL_PRESETS

    proxy = _largest_proxy(config)
    n_proxy = preset_params(proxy.model)
    bigger = sorted((preset_params(name), name) for name in MODEL_PRESETS if preset_params(name) > n_proxy)
    n_val, model = bigger[0] if bigger else (n_proxy, proxy.model)
    tokens = max(COMPUTE_FACTOR * n_proxy * proxy.tokens / n_val, MIN_TOKEN_FACTOR * proxy.tokens)
    return ScaleConfig(model=model, tokens=int(math.ceil(tokens / 1000.0) * 1000))


def final_scale(config: ProjectConfig) -> tuple[int, int]:
    """``(n_params, n_tokens)`` at which the optimum is predicted: the validation scale."""
    scale = validation_scale(config)
    return preset_params(scale.model), int(scale.tokens)


def validation_specs(config: ProjectConfig, mixtures: Mapping[str, Mapping[str, float]]) -> list[RunSpec]:
    """One spec per mixture and validation seed, at the validation scale."""
    scale = validation_scale(config)
    return [
        RunSpec(run_id=RunSpec.make_run_id(name, scale.model, scale.tokens, seed), mixture_name=name,
                  weights={d: float(w) for d, w in weights.items()}, model=scale.model, tokens=int(scale.tokens), seed=seed)
        for name, weights in mixtures.items()
        for seed in config.validation.seeds
    ]


def _train_job(args: tuple) -> object:
    """One validation run in a worker process (top level: picklable under ``spawn``)."""
    config, spec, catalog, threads = args
    import os

    from mixtures.trainers import train_proxy

    if threads:
        os.environ["MIXTURES_TRAIN_THREADS"] = str(threads)
    return train_proxy(config, spec, catalog, config.root / "validation_work" / spec.run_id)


def train_all(config: ProjectConfig, catalog: pd.DataFrame, specs: list[RunSpec], n_jobs: int | None = None):
    """Train ``specs``, in up to ``n_jobs`` processes (default ``$MIXTURES_WORKERS`` or one per core),
    cores shared out as training threads; yields ``(spec, result)`` in order."""
    import os

    from mixtures.resample.parallel import available_cores

    cores = available_cores()
    jobs = max(1, min(n_jobs or int(os.environ.get("MIXTURES_WORKERS") or cores), len(specs)))
    if jobs == 1:
        for spec in specs:
            yield spec, _train_job((config, spec, catalog, None))
        return
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    threads = max(1, cores // jobs)
    with ProcessPoolExecutor(jobs, mp_context=mp.get_context("spawn")) as pool:
        results = pool.map(_train_job, [(config, spec, catalog, threads) for spec in specs])
        yield from zip(specs, results)


def run_validation(
    config: ProjectConfig,
    catalog: pd.DataFrame,
    specs: list[RunSpec],
    weights: Mapping[str, float],
    on_result: Callable[[RunSpec, object], None] | None = None,
    log: Callable[[str], None] | None = None,
    n_jobs: int | None = None,
) -> pd.DataFrame:
    """Train (or reuse from disk) every validation run; one row per run with its final losses,
    ``objective``, ``mixture_name`` and ``seed``. Failed runs are kept with ``objective`` NaN and a reason.

    Runs not on disk yet train in parallel processes (:func:`train_all`)."""
    from mixtures.proxy_store import read_run_rows, write_run_rows

    def path_of(spec: RunSpec):
        return config.root / "validation_runs" / f"{spec.run_id}.parquet"

    tables = {spec.run_id: read_run_rows(path_of(spec), spec) for spec in specs}
    reasons: dict[str, str] = {}
    todo = [spec for spec in specs if tables[spec.run_id] is None]
    if log and todo:
        log(f"training {len(todo)} validation runs ({len(specs) - len(todo)} reused)")
    for spec, result in train_all(config, catalog, todo, n_jobs):
        if log:
            log(f"validation run {spec.run_id}: {result.status} in {result.seconds:.1f}s")
        if on_result is not None:
            on_result(spec, result)
        if result.status == "finished":
            tables[spec.run_id] = result.table
            write_run_rows(path_of(spec), result.table, spec, extra=result.extra)
        else:
            reasons[spec.run_id] = result.reason
    rows = []
    for spec in specs:
        table = tables[spec.run_id]
        if table is None:
            rows.append({"run_id": spec.run_id, "mixture_name": spec.mixture_name, "seed": spec.seed,
                         "objective": float("nan"), "failure": reasons.get(spec.run_id, "not trained")})
            continue
        final = table.sort_values("n_tokens").iloc[[-1]]
        row = final.iloc[0].to_dict()
        row.update({"mixture_name": spec.mixture_name, "seed": spec.seed,
                    "objective": float(objective_of(final, weights)[0]), "failure": ""})
        rows.append(row)
    return pd.DataFrame(rows)
