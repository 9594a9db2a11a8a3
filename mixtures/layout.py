"""The project's files under ``storage.root``: one list, used by the library, the assets and the CLI.

``storage.root`` may be a local folder or a URL (``s3://bucket/project``): every file here is read and
written through :mod:`mixtures.storage`. What must be local (a file lock, a daemon's log, a memory map,
a run's working folder) lives under :func:`local_root`: the root itself when it is local, otherwise a
local scratch folder (:func:`mixtures.storage.scratch_root`: ``$MIXTURES_SCRATCH``, default
``<tmp>/mixtures-scratch``; one sub-folder per root URL),
from which what must outlive the machine is copied to the store.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from mixtures import storage
from mixtures.config import ProjectConfig

CATALOG = "catalog.parquet"
PROXY_DESIGN = "proxy_design.parquet"
PROXY_RESULTS = "proxy_results.parquet"
PROXY_REPEATS = "proxy_repeats.parquet"  # the noise-floor repeats, kept out of the fit
LAW = "law.json"
REVEALED_FEATURES = "revealed_features.npz"  # the ot law's features (mixtures.laws.context)
OPTIMAL_MIXTURE = "optimal_mixture.json"
OPTIMUM_CATALOG = "optimum_catalog.parquet"  # the catalog the optimum was made from (reuse compares with it)
REUSE_PLAN = "reuse_plan.json"  # the reuse the current design follows (absent: a full design)
VALIDATION_DESIGN = "validation_design.json"
VALIDATION = "validation.json"
ONLINE_DESIGN = "online/online_design.json"
METHOD_DESIGN = "online/method_design.json"
METHOD_COMPARISON = "online/compare_methods.json"
REPORT = "report.html"
DATASET = "dataset"
FAILURES = "failures.jsonl"
PIPELINE_LOCK = "pipeline.lock"
LOGS = "logs"
EXPORTS = (VALIDATION, OPTIMAL_MIXTURE, REPORT)  # what ``mixtures run --out DIR`` copies


def project_file(config: ProjectConfig, name: str):
    """``<storage.root>/<name>``: a :class:`~pathlib.Path`, or a :class:`upath.UPath` on object storage."""
    return storage.as_path(storage.join(config.root, name))


def local_root(root: storage.PathLike) -> Path:
    """The local folder for what cannot live on object storage: ``root`` itself when it is local; for a URL
    ``<scratch root>/<hash of the URL>`` (:func:`mixtures.storage.scratch_root`)."""
    url = storage.url_of(root)
    if not storage.is_url(url):
        return Path(url)
    return storage.scratch_root() / hashlib.sha256(url.rstrip("/").encode()).hexdigest()[:16]


def local_file(config: ProjectConfig, name: str) -> Path:
    """``<local root>/<name>`` (:func:`local_root`): the pipeline lock, the daemon's log."""
    return local_root(config.root) / name


def read_frame(config: ProjectConfig, name: str):
    """The parquet table ``<storage.root>/<name>`` (local or on object storage)."""
    import pandas as pd

    path = project_file(config, name)
    with storage.open_read(path) as fh, storage.storage_errors(path, "read"):
        return pd.read_parquet(fh)
