"""From a run table to law features: columns, the single-scale rule, mixture groups.

Non-scale families (``linear``, ``gbm``, ``exp``) see one scale only. When the table holds
several, they are fit on **the final eval point (largest ``n_tokens``) of each run at the most
common ``n_params``** (ties: the largest such ``n_params``). Runs are identified by ``run_id``, or
by their weights when there is no ``run_id`` column; without an ``n_tokens`` column every row is
kept. Scale families (``additive``, ``joint``)
use every row. :class:`ScaleRule` records the choice so a fitted law can tell what it predicts.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from mixtures.errors import TableError
from mixtures.runs_table import SCALE_COLUMNS, WEIGHT_PREFIX, weight_columns

GROUP_DECIMALS = 6


@dataclass(frozen=True)
class ScaleRule:
    """Which rows a non-scale family was fit on: ``n_params`` (None: the table had no or one
    value) and ``point`` ("final": the last eval point of each run; "all": every row)."""

    n_params: float | None
    point: str

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ScaleRule:
        return cls(n_params=data.get("n_params"), point=data.get("point", "final"))


def has_scale(df: pd.DataFrame) -> bool:
    """True when the table has ``n_params`` and ``n_tokens`` and at least one of them varies."""
    if not all(c in df.columns for c in SCALE_COLUMNS):
        return False
    return bool(df["n_params"].nunique() > 1 or df["n_tokens"].nunique() > 1)


def run_keys(df: pd.DataFrame) -> pd.Series:
    """One key per run: ``run_id`` if present, else the rounded weight vector."""
    if "run_id" in df.columns:
        return df["run_id"].astype(str)
    return mixture_keys(df)


def mixture_keys(df: pd.DataFrame) -> pd.Series:
    """One key per mixture (weights rounded to 6 decimals): eval points and seeds of the same
    mixture share it, so CV folds grouped by it never split a mixture."""
    w = df[weight_columns(df)].to_numpy(dtype=np.float64).round(GROUP_DECIMALS)
    return pd.Series(["|".join(f"{v:.6f}" for v in row) for row in w], index=df.index)


def single_scale_rule(df: pd.DataFrame) -> ScaleRule:
    """The rule above, applied to ``df``."""
    n_params = None
    if "n_params" in df.columns and df["n_params"].nunique() > 1:
        counts = df.groupby(run_keys(df))["n_params"].first().value_counts()
        top = counts[counts == counts.max()].index
        n_params = float(max(top))
    return ScaleRule(n_params=n_params, point="final")


def apply_scale_rule(df: pd.DataFrame, rule: ScaleRule) -> pd.DataFrame:
    """The rows a non-scale family uses under ``rule``."""
    out = df
    if rule.n_params is not None and "n_params" in out.columns:
        out = out[np.isclose(out["n_params"].to_numpy(dtype=np.float64), rule.n_params, rtol=1e-9)]
    if rule.point == "final" and len(out) and "n_tokens" in out.columns:
        # keep every row at its run's largest n_tokens (seeds sharing a mixture all stay)
        last = out.groupby(run_keys(out).to_numpy())["n_tokens"].transform("max")
        out = out[out["n_tokens"].to_numpy() == last.to_numpy()]
    return out


def features(df: pd.DataFrame, domains: list[str], uses_scale: bool, source: str = "table") -> np.ndarray:
    """The feature matrix: weights in ``domains`` order, then ``n_params, n_tokens`` if scale."""
    check_domains(df, domains, source)
    cols = [f"{WEIGHT_PREFIX}{d}" for d in domains]
    if uses_scale:
        missing = [c for c in SCALE_COLUMNS if c not in df.columns]
        if missing:
            raise TableError(f"{source}: this law uses model scale; add the column(s) {missing}.")
        cols += list(SCALE_COLUMNS)
    X = df[cols].to_numpy(dtype=np.float64)
    if not np.all(np.isfinite(X)):
        row = int(np.flatnonzero(~np.isfinite(X).all(axis=1))[0])
        raise TableError(f"{source}: row {row + 1} has a missing weight or scale value.")
    return X


def check_domains(df: pd.DataFrame, domains: list[str], source: str) -> None:
    """Refuse a table whose ``w_`` domains differ from the law's, naming both sides."""
    have = [c[len(WEIGHT_PREFIX):] for c in weight_columns(df)]
    if set(have) != set(domains):
        extra = sorted(set(have) - set(domains))
        missing = sorted(set(domains) - set(have))
        raise TableError(
            f"{source}: its domains {have} differ from the law's domains {list(domains)}"
            f" (not in the law: {extra}; missing: {missing}); evaluate on a table with the same"
            " w_<domain> columns, or fit a law on these domains."
        )
