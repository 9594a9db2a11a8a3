"""Import finished runs from a wide-format table (CSV or parquet) as proxy results.

The table is validated with :func:`mixtures.runs_table.validate_runs` against the project's
training domains: a bad row is named by its row number (and CSV line) and run id. Rows without a
``trainer`` get ``"imported"``; rows without a ``mixture_name`` get their ``run_id``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mixtures.config import ProjectConfig
from mixtures.errors import TableError
from mixtures.runs_table import read_table, validate_runs, weight_column

IMPORTED = "imported"


def import_runs_frame(df: pd.DataFrame, config: ProjectConfig, *, source: str = "run table") -> pd.DataFrame:
    """Validate a wide run table against ``config`` and fill the import defaults."""
    if "run_id" not in df.columns:
        raise TableError(f"{source}: no 'run_id' column; give each run a unique id (one row per run and eval point).")
    missing = [weight_column(d) for d in config.domain_names if weight_column(d) not in df.columns]
    if missing:
        raise TableError(
            f"{source}: missing weight column(s) {missing}; the table needs one 'w_<domain>' column for every "
            f"training domain of the config ({config.domain_names}), 0 where a domain was not used."
        )
    blank_ids = df["run_id"].isna() | (df["run_id"].astype(str).str.strip() == "")
    if blank_ids.any():
        pos = int(blank_ids.to_numpy().nonzero()[0][0])
        line = f" (line {pos + 2})" if source.lower().endswith(".csv") else ""
        raise TableError(f"{source}: row {pos + 1}{line} has no run_id; fill it in or drop the row.")
    out = validate_runs(df, domains=config.domain_names, source=source)
    if "trainer" not in out.columns:
        out["trainer"] = IMPORTED
    else:
        blank = out["trainer"].isna() | (out["trainer"].astype(str).str.strip() == "")
        out["trainer"] = out["trainer"].where(~blank, IMPORTED)
    if "mixture_name" not in out.columns:
        out["mixture_name"] = out["run_id"].astype(str)
    out["run_id"] = out["run_id"].astype(str)
    return out.reset_index(drop=True)


def import_runs(config: ProjectConfig, path: str | Path | None = None) -> pd.DataFrame:
    """Read and validate ``path`` (default: ``config.proxy.runs_table``, relative to the config)."""
    if path is None:
        if not config.proxy.runs_table:
            raise TableError("no run table to import: set proxy.runs_table in the config or give a path.")
        path = config.resolve(config.proxy.runs_table)
    path = Path(path)
    return import_runs_frame(read_table(path), config, source=str(path))
