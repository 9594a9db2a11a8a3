"""The demo corpus as project-config domains (``mixtures.config.DomainConfig`` mappings)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mixtures.demo_corpus.manifest import read_manifest
from mixtures.demo_corpus.sources import DEMO_DOMAINS


def demo_domains(out_dir: str | Path, *, relative_to: str | Path | None = None) -> list[dict[str, Any]]:
    """One ``domains:`` entry per built domain: its shard folder, read as ``jsonl.gz`` with ids.

    Parameters
    ----------
    out_dir : path
        The demo corpus folder (as given to :func:`build_demo_corpus`). Its manifest decides which
        domains are listed; without a manifest, all eight demo domains are.
    relative_to : path, optional
        Write paths relative to this folder (the project config's folder); default: absolute.
    """
    out_dir = Path(out_dir).expanduser().absolute()
    manifest = read_manifest(out_dir)
    names = list(manifest["params"]["domains"]) if manifest else list(DEMO_DOMAINS)
    entries = []
    for name in names:
        folder = out_dir / name
        if relative_to is not None:
            path = os.path.relpath(folder, Path(relative_to).expanduser().absolute())
        else:
            path = str(folder)
        entries.append(
            {"name": name, "paths": [Path(path).as_posix()], "format": "jsonl.gz", "text_field": "text", "id_field": "id"}
        )
    return entries
