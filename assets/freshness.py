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
    from mixtures import storage
    from mixtures.runs.imports import external_folder_tables

    return {storage.name(p): storage.stamp(p).replace("\0", ":") for p in external_folder_tables(config)}
