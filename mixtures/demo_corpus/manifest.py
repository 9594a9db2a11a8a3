"""The demo corpus manifest: what was built from what, and how to tell a build is complete."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from mixtures.demo_corpus.fetch import sha256_file
from mixtures.errors import CorpusError

BUILDER = "mixtures.demo_corpus"
BUILDER_VERSION = 1
MANIFEST_NAME = "manifest.json"


def manifest_path(out_dir: Path) -> Path:
    return Path(out_dir) / MANIFEST_NAME


def dumps(manifest: dict[str, Any]) -> str:
    """Canonical JSON: sorted keys, two-space indent, trailing newline (so equal manifests are equal bytes)."""
    return json.dumps(manifest, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def read_manifest(out_dir: Path) -> dict[str, Any] | None:
    """The demo-corpus manifest in ``out_dir``; None if there is none or it is not ours."""
    path = manifest_path(out_dir)
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) and manifest.get("builder") == BUILDER else None


def load_manifest(out_dir: Path) -> dict[str, Any]:
    """Like :func:`read_manifest`, but a clear error when ``out_dir`` holds no demo corpus."""
    manifest = read_manifest(out_dir)
    if manifest is None:
        raise CorpusError(
            f"{manifest_path(out_dir)}: no demo-corpus manifest; "
            f"build it with `mixtures corpus build-demo --out {out_dir}`."
        )
    return manifest


def is_complete(out_dir: Path, params: dict[str, Any]) -> bool:
    """True when ``out_dir`` holds a finished build for exactly ``params`` with every shard intact."""
    manifest = read_manifest(out_dir)
    if manifest is None or manifest.get("params") != params:
        return False
    for domain in manifest.get("domains", {}).values():
        for shard in domain.get("shards", []):
            path = Path(out_dir) / shard["path"]
            if not path.is_file() or path.stat().st_size != shard["gz_bytes"] or sha256_file(path) != shard["sha256"]:
                return False
    return True


def check_replaceable(out_dir: Path) -> None:
    """Refuse to replace a folder that is neither empty nor an earlier demo-corpus build."""
    out_dir = Path(out_dir)
    if not out_dir.exists():
        return
    if not out_dir.is_dir():
        raise CorpusError(f"{out_dir}: exists and is not a folder; choose another output path.")
    if read_manifest(out_dir) is None and any(os.scandir(out_dir)):
        raise CorpusError(
            f"{out_dir}: the folder is not empty and holds no demo-corpus manifest; refusing to replace it. "
            "Choose another output folder or empty this one."
        )
