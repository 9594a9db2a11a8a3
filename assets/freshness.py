"""What the sensors compare to tell a change from a look: fingerprints recorded in materialization metadata."""

import hashlib
import json

FILES_METADATA = "files_fingerprint"      # on domain_catalog: the domain files it was built from
EXTERNAL_METADATA = "external_tables"     # on proxy_results: the imported run tables it read


def digest(data) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def files_digest(config) -> str:
    """A digest of the domain files (paths, sizes, mtimes)."""
    from mixtures.corpus import files_fingerprint

    return digest(files_fingerprint(config))


def external_state(config) -> dict[str, str]:
    """``{table name: mtime:size}`` of the run tables in ``<root>/external_runs/``."""
    from mixtures.runs.imports import EXTERNAL_DIR, TABLE_SUFFIXES

    folder = config.root / EXTERNAL_DIR
    if not folder.is_dir():
        return {}
    return {p.name: f"{p.stat().st_mtime_ns}:{p.stat().st_size}" for p in sorted(folder.iterdir())
            if p.is_file() and p.suffix.lower() in TABLE_SUFFIXES}
