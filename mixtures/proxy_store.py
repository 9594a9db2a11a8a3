"""Finished proxy runs on disk: one parquet of rows (one per eval point) and one JSON of facts per run.

``<root>/proxy_runs/<run_id>.parquet`` holds the run's wide rows; ``<run_id>.json`` beside it the
spec it was trained for and extras (unigram baseline, throughput). Both are written atomically,
the JSON last, so a run counts as finished only when both exist and the spec matches.
Tables dropped by external jobs into ``<root>/external_runs/`` and ``proxy.runs_table`` are
imported beside them (validated against the project's domains).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from mixtures.config import ProjectConfig
from mixtures.storage import atomic_write_frame, atomic_write_json

RUNS_DIR = "proxy_runs"
EXTERNAL_DIR = "external_runs"
TABLE_SUFFIXES = (".csv", ".parquet", ".pq")


def result_path(config: ProjectConfig, run_id: str) -> Path:
    """Where the rows of proxy run ``run_id`` live."""
    return config.root / RUNS_DIR / f"{run_id}.parquet"


def _meta_path(path: Path) -> Path:
    return path.with_suffix(".json")


def spec_record(spec: Any) -> dict:
    """The identity of a run: what must match for its stored rows to be reused."""
    return {"run_id": spec.run_id, "mixture_name": spec.mixture_name, "model": spec.model,
            "tokens": int(spec.tokens), "seed": int(spec.seed),
            "weights": {d: round(float(w), 9) for d, w in spec.weights.items()}}


def write_run_rows(path: Path, rows: pd.DataFrame, spec: Any, extra: dict | None = None) -> None:
    """Store a finished run (rows first, then the JSON that makes it count)."""
    atomic_write_frame(path, rows)
    clean = {k: v for k, v in (extra or {}).items() if _jsonable(v)}
    atomic_write_json(_meta_path(path), {"spec": spec_record(spec), "extra": clean})


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def read_run_meta(path: Path) -> dict | None:
    """The JSON facts of a stored run, or ``None``."""
    meta = _meta_path(path)
    if not meta.is_file() or not path.is_file():
        return None
    try:
        return json.loads(meta.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return None


def read_run_rows(path: Path, spec: Any) -> pd.DataFrame | None:
    """The stored rows of ``spec``'s run, or ``None`` when absent, incomplete or for another spec."""
    meta = read_run_meta(path)
    if meta is None or meta.get("spec") != spec_record(spec):
        return None
    return pd.read_parquet(path)


def unigram_baseline_of(path: Path) -> dict[str, float]:
    """The per-eval-set unigram baseline (bits/byte, keyed ``loss_<name>``) stored with a run."""
    meta = read_run_meta(path) or {}
    baseline = meta.get("extra", {}).get("unigram_baseline", {})
    return {(k if k.startswith("loss_") else f"loss_{k}"): float(v) for k, v in baseline.items()
            if isinstance(v, (int, float)) and math.isfinite(v)}


def external_tables(config: ProjectConfig) -> list[Path]:
    """Run tables to import: ``proxy.runs_table`` and every table in the watched folder, sorted."""
    paths = []
    if config.proxy.runs_table:
        paths.append(config.resolve(config.proxy.runs_table))
    folder = config.root / EXTERNAL_DIR
    if folder.is_dir():
        paths.extend(sorted(p for p in folder.iterdir() if p.suffix.lower() in TABLE_SUFFIXES and p.is_file()))
    return paths


def import_table(config: ProjectConfig, path: Path) -> pd.DataFrame:
    """An external run table, validated against the project's domains (see :mod:`mixtures.runs_import`)."""
    from mixtures.runs_import import import_runs

    table = import_runs(config, path)
    table["source"] = str(path)
    return table


def collect_results(config: ProjectConfig, design: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int]]:
    """Every finished run of ``design`` plus imported tables, as one wide table.

    Returns the table and a count of runs per source (``builtin``/``command`` and each imported file).
    """
    frames, sources = [], {}
    for run_id in design["run_id"].drop_duplicates():
        path = result_path(config, run_id)
        if read_run_meta(path) is None:
            continue
        rows = pd.read_parquet(path)
        frames.append(rows)
        trainer = str(rows["trainer"].iloc[0]) if "trainer" in rows else config.proxy.trainer
        sources[trainer] = sources.get(trainer, 0) + 1
    for path in external_tables(config):
        table = import_table(config, path)
        frames.append(table)
        sources[path.name] = int(table["run_id"].nunique())
    if not frames:
        return pd.DataFrame(), sources
    results = pd.concat(frames, ignore_index=True, sort=False)
    return results, sources
