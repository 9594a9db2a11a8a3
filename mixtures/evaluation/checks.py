"""Data checks of the evaluation core: does a finished run look sound, and how is a law's extrapolation checked."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import pandas as pd

from mixtures.errors import TableError


def trained_data_problems(losses: Mapping[str, float], baseline: Mapping[str, float],
                          weights: Mapping[str, float]) -> list[str]:
    """Why a finished run looks broken: a non-finite loss, or a loss on the data it trained on (the training
    domains weighted by the mixture) not below the unigram baseline of that data. A domain the mixture barely
    samples may stay above its unigram baseline early on; that is no fault of the run."""
    problems = [f"{k} = {v}" for k, v in losses.items() if pd.notna(v) and not math.isfinite(v)]
    trained = {f"loss_{d}": w for d, w in weights.items()
               if w > 0 and pd.notna(losses.get(f"loss_{d}")) and f"loss_{d}" in baseline}
    if not trained:
        return problems + ["no loss measured on any training domain"]
    total = sum(trained.values())
    model = sum(w * losses[k] for k, w in trained.items()) / total
    unigram = sum(w * baseline[k] for k, w in trained.items()) / total
    if not model < unigram:
        problems.append(f"loss on the training mixture {model:.4f} bits/byte is not below its unigram baseline "
                        f"{unigram:.4f}")
    return problems


def law_quality_problem(spearman: float, min_spearman: float) -> str | None:
    """Why a law whose cross-validated Spearman on the objective's targets is ``spearman`` must not be trusted
    (below ``laws.min_spearman``), with what to do; ``None`` when it passes. A mean exactly at the threshold
    passes (rounded: 0.4 and 0.6 average to 0.49999999999999994)."""
    if round(spearman, 9) >= min_spearman:
        return None
    return (f"the law's cross-validated Spearman on the objective's targets is {spearman:.3f}, below "
            f"laws.min_spearman = {min_spearman}: it cannot rank the mixtures well enough to trust its "
            "optimum. Add proxy runs (proxy.n_mixtures, proxy.seeds), choose another laws.law, or lower "
            "laws.min_spearman if you accept a weaker law.")


def extrapolation_report(proxy_results: pd.DataFrame, targets: Sequence[str], objective: Sequence[str], *,
                         law: str, uses_scale: bool, seed: int, context: dict | None = None) -> pd.DataFrame | None:
    """How well the law extrapolates within the proxies: refit on the smaller model sizes and predict the
    largest (every target); with one model size, refit on the first half of each run's curve along D and
    predict its end (the objective's targets). ``None`` when neither applies (a law without N or D, or too
    few eval points)."""
    from mixtures.laws import extrapolation_check

    if not uses_scale:
        return None
    if proxy_results["n_params"].nunique() > 1:
        return extrapolation_check(proxy_results, list(targets), law=law, seed=seed, context=context)
    if proxy_results["n_tokens"].nunique() >= 3 and objective:
        try:
            return extrapolation_check(proxy_results, list(objective), law=law, by="n_tokens", fit_fraction=0.5,
                                       seed=seed, context=context)
        except TableError:  # too few eval points in the first half of the curves
            return None
    return None
