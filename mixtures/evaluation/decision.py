"""Is the law's decision better than noise? The noise floor, out-of-fold regret@1, and the plain statement.

- **Noise floor**: the seed spread of the objective, the pooled standard deviation over every mixture the
  table measured with two or more seeds, at the rows a non-scale law is fitted on (each run's final eval
  point at the fitting model size). A design gets such repeats from ``proxy.repeats``.
- **Out-of-fold regret@1**: from the chosen models' out-of-fold predictions of the objective, how much
  worse the row the law ranks first is than the best measured row (both in objective units).
- **The statement**: whether the law's predicted gain of its optimum over the best baseline is above the
  noise floor. Below it, the measured gain could be seed noise alone, and the text says so.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from mixtures import storage
from mixtures.laws.data import apply_scale_rule, mixture_keys, single_scale_rule
from mixtures.laws.metrics import pooled_spread, regret_at_1
from mixtures.layout import PROXY_REPEATS, project_file
from mixtures.objective import objective_of


@dataclass(frozen=True)
class DecisionQuality:
    """The decision metrics of one law fit (objective units; NaN: not measurable on this table)."""

    noise_floor: float
    noise_mixtures: int  # mixtures measured with >= 2 seeds
    noise_runs: int  # the runs of those mixtures
    oof_regret_at_1: float
    oof_rows: int
    best_measured: float  # the lowest measured objective among the out-of-fold rows

    def to_dict(self) -> dict:
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in asdict(self).items()}

    def metrics(self) -> dict[str, float]:
        """The finite numbers, under the MLflow metric names ``noise_floor`` and ``oof_regret_at_1``."""
        out = {"noise_floor": self.noise_floor, "oof_regret_at_1": self.oof_regret_at_1}
        return {k: float(v) for k, v in out.items() if math.isfinite(v)}

    def message(self) -> str:
        """Two sentences: the noise floor (or why there is none) and the regret@1 against it."""
        if math.isfinite(self.noise_floor):
            noise = (f"noise floor {self.noise_floor:.4f} (seed spread of the objective over {self.noise_mixtures} "
                     f"mixture(s) with repeated seeds, {self.noise_runs} runs)")
        else:
            noise = "noise floor unknown: no mixture was measured with two or more seeds (set proxy.repeats)"
        if not math.isfinite(self.oof_regret_at_1):
            return noise + "; out-of-fold regret@1 unknown (no out-of-fold objective)."
        regret = f"out-of-fold regret@1 {self.oof_regret_at_1:.4f} over {self.oof_rows} held-out rows"
        if math.isfinite(self.noise_floor):
            regret += (" (within the noise floor)" if self.oof_regret_at_1 <= self.noise_floor
                       else " (above the noise floor: the law's first pick is measurably not the best)")
        return f"{noise}; {regret}."


def noise_floor(runs: pd.DataFrame, weights: Mapping[str, float]) -> tuple[float, int, int]:
    """The seed spread of the objective ``weights`` (``{loss column: weight}``) in a run table: the pooled
    standard deviation within mixtures measured with >= 2 seeds at each run's final eval point (at the most
    common model size). Returns ``(spread, mixtures, runs)``; the spread is NaN without repeats."""
    rows = apply_scale_rule(runs, single_scale_rule(runs)).dropna(subset=list(weights))
    if rows.empty:
        return float("nan"), 0, 0
    groups = mixture_keys(rows)
    if "n_tokens" in rows.columns:
        groups = groups + "@" + rows["n_tokens"].astype(str)
    return pooled_spread(objective_of(rows, weights), groups.to_numpy())


def oof_objective(oof: Mapping[str, pd.DataFrame], chosen: Mapping[str, str],
                  weights: Mapping[str, float]) -> pd.DataFrame:
    """``actual`` and ``predicted`` objective of the rows every objective target has an out-of-fold
    prediction for (from :attr:`~mixtures.laws.LawFit.oof` and the chosen family of each target)."""
    missing = [t for t in weights if t not in oof]
    if missing:
        return pd.DataFrame(columns=["actual", "predicted"])
    actual = pd.concat({t: oof[t]["actual"] for t in weights}, axis=1, join="inner")
    predicted = pd.concat({t: oof[t][chosen[t]] for t in weights}, axis=1, join="inner")
    return pd.DataFrame({"actual": objective_of(actual, weights), "predicted": objective_of(predicted, weights)},
                        index=actual.index).dropna()


def decision_quality(fit, runs: pd.DataFrame, weights: Mapping[str, float]) -> DecisionQuality:
    """The noise floor of ``runs`` and the out-of-fold regret@1 of ``fit`` (a :class:`~mixtures.laws.LawFit`)
    for the objective ``weights``."""
    spread, mixtures, repeats = noise_floor(runs, weights)
    rows = oof_objective(fit.oof, fit.chosen, weights)
    best = float(rows["actual"].min()) if len(rows) else float("nan")
    return DecisionQuality(spread, mixtures, repeats, regret_at_1(rows["actual"], rows["predicted"]), int(len(rows)),
                           best)


def gain_statement(predicted_optimum: float, predicted_baseline: float, baseline: str,
                   floor: float) -> tuple[bool | None, str]:
    """Whether the law's predicted gain of the optimum over the best ``baseline`` is above the noise floor
    ``floor``, and the sentence that says so (``None``: the floor is unknown)."""
    gain = float(predicted_baseline) - float(predicted_optimum)
    if not math.isfinite(floor):
        return None, (f"the law predicts the optimum {gain:.4f} better than {baseline}; the noise floor is unknown "
                      "(no repeated seeds in the design: set proxy.repeats), so whether that is above noise is not known.")
    if gain > floor:
        return True, (f"the law predicts the optimum {gain:.4f} better than {baseline}, above the noise floor "
                      f"{floor:.4f}.")
    return False, (f"BELOW THE NOISE FLOOR: the law predicts the optimum only {gain:.4f} better than {baseline}, "
                   f"not more than the seed spread {floor:.4f}; the choice may be noise. Measure it (validation "
                   "seeds) before you rely on it.")


def best_baseline(comparison: pd.DataFrame, exclude: str = "optimal") -> tuple[str, float]:
    """The mixture with the lowest predicted ``objective`` in a comparison table, other than ``exclude``."""
    others = comparison[comparison["mixture"] != exclude]
    row = others.loc[others["objective"].astype(np.float64).idxmin()]
    return str(row["mixture"]), float(row["objective"])


def write_repeats(config, store, specs) -> int:
    """Write the finished noise-floor repeats among ``specs`` to ``PROXY_REPEATS`` (removed when there are
    none, so a stale table never counts); returns how many runs it holds."""
    path = project_file(config, PROXY_REPEATS)
    frames = [stored.rows for stored in (store.finished(s) for s in specs) if stored is not None]
    if not frames:
        if storage.exists(path):
            storage.remove(path)
        return 0
    storage.atomic_write_frame(path, pd.concat(frames, ignore_index=True, sort=False))
    return len(frames)


def with_repeats(config, runs: pd.DataFrame) -> pd.DataFrame:
    """``runs`` and the project's noise-floor repeats (``PROXY_REPEATS``), the table the noise floor is
    measured on (the law is fitted on ``runs`` alone)."""
    path = project_file(config, PROXY_REPEATS)
    if not storage.exists(path):
        return runs
    with storage.open_read(path) as handle:
        return pd.concat([runs, pd.read_parquet(handle)], ignore_index=True, sort=False)


def log_decision(run, decision: DecisionQuality) -> None:
    """Log the decision metrics to an MLflow run (a :class:`~mixtures.tracking.RunLogger`): the metrics
    ``noise_floor`` and ``oof_regret_at_1`` (when finite), the artifact ``decision_quality.json`` and the tag
    ``mixtures.decision_quality`` (the message)."""
    run.log_metrics(decision.metrics())
    run.log_dict(decision.to_dict(), "decision_quality.json")
    run.set_tags({"mixtures.decision_quality": decision.message()})


def log_gain(run, above: bool | None, statement: str, gain: float) -> None:
    """Log the optimum's predicted gain over the best baseline and whether it is above the noise floor:
    metric ``predicted_gain``, tags ``mixtures.above_noise_floor`` (true / false / unknown) and
    ``mixtures.decision``."""
    if math.isfinite(gain):
        run.log_metrics({"predicted_gain": float(gain)})
    run.set_tags({"mixtures.above_noise_floor": {True: "true", False: "false", None: "unknown"}[above],
                  "mixtures.decision": statement})
