"""Finished runs from elsewhere, beside the store's own: ``proxy.runs_table`` and tables dropped into
``<root>/external_runs/`` (validated against the project's domains, :mod:`mixtures.runs_import`)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from mixtures import storage
from mixtures.config import ProjectConfig
from mixtures.runs.spec import RunSpec
from mixtures.runs.store import RunStore

EXTERNAL_DIR = "external_runs"
TABLE_SUFFIXES = (".csv", ".parquet", ".pq")


def external_tables(config: ProjectConfig) -> list[Path]:
    """Run tables to import: ``proxy.runs_table`` and every table in the watched folder, sorted."""
    paths = []
    if config.proxy.runs_table:
        paths.append(config.resolve(config.proxy.runs_table))
    return paths + external_folder_tables(config)


def external_folder_tables(config: ProjectConfig) -> list[Path]:
    """The run tables in ``<storage.root>/external_runs/`` (local or on object storage), sorted."""
    folder = storage.join(config.root, EXTERNAL_DIR)
    names = [n for n in storage.listdir(folder) if Path(n).suffix.lower() in TABLE_SUFFIXES]
    return [storage.as_path(p) for p in (storage.join(folder, n) for n in names) if storage.isfile(p)]


def import_table(config: ProjectConfig, path: Path) -> pd.DataFrame:
    """An external run table, validated against the project's domains."""
    from mixtures.runs_import import import_runs

    table = import_runs(config, path)
    table["source"] = str(path)
    return table


def results_table(config: ProjectConfig, store: RunStore, specs: Iterable[RunSpec]) -> tuple[pd.DataFrame, dict[str, int]]:
    """Every finished run of ``specs`` plus the imported tables, as one wide table, and a count of runs per
    source (``builtin``/``command`` and each imported file)."""
    frames, sources = [], {}
    for spec in specs:
        stored = store.finished(spec)
        if stored is None:
            continue
        frames.append(stored.rows)
        trainer = str(stored.rows["trainer"].iloc[0]) if "trainer" in stored.rows else spec.trainer
        sources[trainer] = sources.get(trainer, 0) + 1
    for path in external_tables(config):
        table = import_table(config, path)
        frames.append(table)
        sources[path.name] = int(table["run_id"].nunique())
    if not frames:
        return pd.DataFrame(), sources
    return pd.concat(frames, ignore_index=True, sort=False), sources
