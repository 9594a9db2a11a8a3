"""The proxy-run table: one row per run and eval point, in the wide format (README: "Laws, optimizer and
dataset on their own").

Columns: ``run_id``, ``w_<domain>`` for every training domain, ``n_params`` (N), ``n_tokens`` (D),
``seed``, ``trainer``, ``loss_<domain>`` for every evaluation domain, and optionally
``loss_unit`` (``bits_per_byte`` for the built-in trainer). Empty loss cells mean "not measured".
Each task of ``target.tasks`` (:mod:`mixtures.tasks`) adds ``taskloss_<task>`` (bits per byte of the correct
choices given their contexts) and ``acc_<task>`` (accuracy, a fraction in [0, 1]); they are not ``loss_``
columns, so a law fitted on the domain losses never mistakes them for one.
A run that capped a domain's unique tokens (``proxy.repeat_runs``, :class:`mixtures.runs.RunSpec`) has
``unique_<domain>`` (its cap, in tokens) for that domain; empty cells elsewhere: no cap.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from mixtures.errors import TableError

WEIGHT_PREFIX = "w_"
LOSS_PREFIX = "loss_"
UNIQUE_PREFIX = "unique_"
SCALE_COLUMNS = ("n_params", "n_tokens")
WEIGHT_SUM_TOLERANCE = 1e-3


def weight_columns(df: pd.DataFrame) -> list[str]:
    """The ``w_<domain>`` columns, in table order."""
    return [c for c in df.columns if str(c).startswith(WEIGHT_PREFIX)]


def loss_columns(df: pd.DataFrame) -> list[str]:
    """The ``loss_<domain>`` columns, in table order (``loss_unit`` is not one)."""
    return [c for c in df.columns if str(c).startswith(LOSS_PREFIX) and c != "loss_unit"]


def domains_of(df: pd.DataFrame) -> list[str]:
    """Training domain names, from the ``w_`` columns."""
    return [c[len(WEIGHT_PREFIX):] for c in weight_columns(df)]


def weight_column(domain: str) -> str:
    return f"{WEIGHT_PREFIX}{domain}"


def loss_column(domain: str) -> str:
    return f"{LOSS_PREFIX}{domain}"


def unique_column(domain: str) -> str:
    return f"{UNIQUE_PREFIX}{domain}"


def unique_columns(df: pd.DataFrame) -> list[str]:
    """The ``unique_<domain>`` columns (a run's cap of a domain's unique tokens), in table order."""
    return [c for c in df.columns if str(c).startswith(UNIQUE_PREFIX)]


def capped_rows(df: pd.DataFrame) -> np.ndarray:
    """Whether each row is of a run that capped some domain's unique tokens (a repeated-data run)."""
    columns = unique_columns(df)
    if not columns:
        return np.zeros(len(df), dtype=bool)
    return df[columns].apply(pd.to_numeric, errors="coerce").notna().any(axis=1).to_numpy()


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV or parquet run table, without validating it."""
    path = Path(path)
    if not path.exists():
        raise TableError(f"{path}: no such file; give the path of a .csv or .parquet run table.")
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            return pd.read_csv(path)
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path)
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise TableError(f"{path}: cannot be read as {suffix[1:]}: {exc}") from None
    raise TableError(f"{path}: unknown table format {suffix!r}; use .csv or .parquet.")


def _row_label(df: pd.DataFrame, position: int, source: str, csv: bool) -> str:
    label = f"{source}: row {position + 1}"
    if csv:
        label += f" (line {position + 2})"
    if "run_id" in df.columns:
        label += f", run_id {df['run_id'].iloc[position]!r}"
    return label


def _refuse_repeated_rows(df: pd.DataFrame, source: str, csv: bool) -> None:
    key = [c for c in ("run_id", "n_tokens") if c in df.columns] if "run_id" in df.columns else list(df.columns)
    repeated = df.duplicated(subset=key, keep=False).to_numpy()
    if not repeated.any():
        return
    first = int(np.flatnonzero(repeated)[0])
    same = (df[key] == df[key].iloc[first]) | (df[key].isna() & df[key].iloc[first].isna())
    second = int(np.flatnonzero(same.all(axis=1).to_numpy())[1])
    what = "the same " + " and ".join(key) if "run_id" in df.columns else "the same values in every column"
    raise TableError(f"{_row_label(df, second, source, csv)} repeats row {first + 1} ({what}); each run "
                     "and eval point is one row: drop the repeat, or give a rerun its own run_id.")


def validate_runs(
    df: pd.DataFrame,
    *,
    domains: Sequence[str] | None = None,
    source: str = "run table",
    require_losses: bool = True,
) -> pd.DataFrame:
    """Check a run table and return it with numeric columns as float64.

    Refuses, naming the row (and CSV line) and the column: no ``w_`` columns; unknown domains
    (when ``domains`` is given); weights that are negative, not finite, or do not sum to 1;
    losses that are infinite or negative; non-positive ``n_params`` / ``n_tokens``.
    Empty loss cells are allowed (not measured), but each loss column needs some values.
    A row repeated (the same ``run_id`` and ``n_tokens``; without a ``run_id``, the same values in every column)
    is refused, naming both rows: a repeat would count as one more mixture and weigh twice in the fit.
    """
    csv = source.lower().endswith(".csv")
    wcols = weight_columns(df)
    if not wcols:
        raise TableError(
            f"{source}: no weight columns; the table needs one 'w_<domain>' column per training domain."
        )
    if domains is not None:
        unknown = [c[len(WEIGHT_PREFIX):] for c in wcols if c[len(WEIGHT_PREFIX):] not in domains]
        if unknown:
            raise TableError(f"{source}: unknown domain(s) {unknown}; expected domains {list(domains)}.")
    _refuse_repeated_rows(df, source, csv)
    lcols = loss_columns(df)
    if require_losses and not lcols:
        raise TableError(f"{source}: no loss columns; add 'loss_<domain>' columns with measured losses.")
    out = df.copy()
    ucols = unique_columns(df)
    stray = [c for c in ucols if weight_column(c[len(UNIQUE_PREFIX):]) not in wcols]
    if stray:
        raise TableError(f"{source}: column(s) {stray} cap the unique tokens of no training domain (the w_ columns "
                         f"are {wcols}); rename or drop them.")
    for col in [*wcols, *lcols, *ucols, *[c for c in SCALE_COLUMNS if c in df.columns]]:
        values = pd.to_numeric(out[col], errors="coerce")
        bad = values.isna() & out[col].notna()
        if bad.any():
            pos = int(np.flatnonzero(bad.to_numpy())[0])
            raise TableError(
                f"{_row_label(df, pos, source, csv)}: column {col!r} holds {df[col].iloc[pos]!r}, not a number."
            )
        out[col] = values.astype(np.float64)
    weights = out[wcols].to_numpy()
    for pos, row in enumerate(weights):
        label = None
        if not np.all(np.isfinite(row)):
            label = "has a missing or non-finite weight"
        elif np.any(row < 0):
            label = f"has a negative weight ({wcols[int(np.argmin(row))]} = {row.min():g})"
        elif abs(row.sum() - 1.0) > WEIGHT_SUM_TOLERANCE:
            label = f"has weights summing to {row.sum():.6g}, not 1"
        if label:
            raise TableError(f"{_row_label(df, pos, source, csv)} {label}; fix or drop that row.")
    for col in lcols:
        values = out[col].to_numpy()
        bad = np.isinf(values) | (values < 0)
        if bad.any():
            pos = int(np.flatnonzero(bad)[0])
            raise TableError(
                f"{_row_label(df, pos, source, csv)}: {col} = {float(values[pos])}; losses must be finite and >= 0."
            )
        if require_losses and np.isnan(values).all():
            raise TableError(f"{source}: column {col!r} has no values.")
    for col in ucols:
        values = out[col].to_numpy()
        bad = ~(values > 0) & ~np.isnan(values)
        if bad.any():
            pos = int(np.flatnonzero(bad)[0])
            raise TableError(f"{_row_label(df, pos, source, csv)}: {col} = {float(values[pos])}; a unique-token cap "
                             "must be > 0 (empty: no cap).")
    for col in SCALE_COLUMNS:
        if col in out.columns:
            values = out[col].to_numpy()
            bad = ~(values > 0)
            if bad.any():
                pos = int(np.flatnonzero(bad)[0])
                raise TableError(
                    f"{_row_label(df, pos, source, csv)}: {col} = {float(values[pos])}; it must be a positive number."
                )
    return out


def load_runs(path: str | Path, *, domains: Sequence[str] | None = None) -> pd.DataFrame:
    """Read and validate a run table file."""
    return validate_runs(read_table(path), domains=domains, source=str(path))
