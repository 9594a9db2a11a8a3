"""Building the demo corpus: fetch, extract, chunk, order, cap, shard, manifest — atomically and cached."""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import os
import shutil
import sys
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from mixtures.demo_corpus.attribution import attribution_markdown, write_license_files
from mixtures.demo_corpus.chunk import MAX_CHUNK_BYTES, chunk_text, normalize
from mixtures.demo_corpus.extractors.wiki import MWPARSER_VERSION
from mixtures.demo_corpus.fetch import default_cache_dir, fetch_artifact
from mixtures.demo_corpus.manifest import (
    BUILDER,
    BUILDER_VERSION,
    check_replaceable,
    dumps,
    is_complete,
    manifest_path,
)
from mixtures.demo_corpus.shards import ShardWriter
from mixtures.demo_corpus.sources import DEMO_SOURCES, DomainSource
from mixtures.errors import CorpusError

DEFAULT_CAP_MB = 2.0
DEFAULT_SHARD_MB = 16.0
MB = 1_000_000


def select_sources(sources: Sequence[DomainSource], domains: Iterable[str] | None) -> list[DomainSource]:
    """The sources of the requested ``domains`` (all when None), in table order."""
    by_name = {s.domain: s for s in sources}
    if domains is None:
        return list(sources)
    wanted = list(dict.fromkeys(domains))
    unknown = [d for d in wanted if d not in by_name]
    if unknown or not wanted:
        raise CorpusError(f"unknown demo-corpus domain(s) {unknown}; choose from {list(by_name)}")
    return [s for s in sources if s.domain in wanted]


def cap_bytes(
    selected: Sequence[DomainSource], cap_mb: float | None, caps: Mapping[str, float | None] | None
) -> dict[str, int | None]:
    """Per-domain caps in bytes of text: ``caps[domain]`` if given, else ``cap_mb``; None = no cap."""
    names = [s.domain for s in selected]
    caps = dict(caps or {})
    unknown = [d for d in caps if d not in names]
    if unknown:
        raise CorpusError(f"caps name domain(s) {unknown} that are not being built; domains are {names}")
    result: dict[str, int | None] = {}
    for name in names:
        value = caps.get(name, cap_mb)
        if value is not None and not value > 0:
            where = f"caps[{name!r}]" if name in caps else "cap_mb"
            raise CorpusError(f"{where} is {value}; a cap must be a positive number of MB (or None for no cap)")
        result[name] = None if value is None else int(round(value * MB))
    return result


def check_requirements(selected: Sequence[DomainSource]) -> None:
    """Fail before any download when a domain's optional dependency is missing."""
    for source in selected:
        for module, pip_spec in source.requires:
            if importlib.util.find_spec(module) is None:
                raise CorpusError(
                    f"the {source.domain} domain needs the Python package {module!r}; install it with "
                    f"`pip install 'mixtures[demo-corpus]'` (or `pip install {pip_spec}`), or leave "
                    f"{source.domain} out (--domains / domains=)."
                )


def _installed_version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def build_params(
    selected: Sequence[DomainSource], caps: dict[str, int | None], shard_bytes: int, max_chunk_bytes: int
) -> dict[str, Any]:
    """Everything the output bytes depend on; a cached build is reused only when these are equal."""
    params: dict[str, Any] = {
        "builder_version": BUILDER_VERSION,
        "domains": [s.domain for s in selected],
        "cap_bytes": caps,
        "shard_bytes": shard_bytes,
        "max_chunk_bytes": max_chunk_bytes,
        "artifacts": {a.key: a.sha256 for s in selected for a in s.artifacts},
        "python": f"{sys.version_info.major}.{sys.version_info.minor}",
    }
    if any(s.domain == "wiki" for s in selected):
        params["mwparserfromhell"] = _installed_version("mwparserfromhell")
    return params


def _order_key(doc_id: str) -> str:
    return hashlib.sha1(doc_id.encode("utf-8")).hexdigest()


def domain_chunks(
    source: DomainSource, files: Mapping[str, Path], max_chunk_bytes: int
) -> tuple[int, list[tuple[str, str, str]]]:
    """``(documents extracted, [(chunk id, artifact key, text)])`` for one domain, in sha1(id) order."""
    chunks: list[tuple[str, str, str]] = []
    seen: set[str] = set()
    n_docs = 0
    for doc in source.extractor(files):
        if doc.id in seen:
            raise CorpusError(f"domain {source.domain!r}: the extractor yielded document id {doc.id!r} twice")
        seen.add(doc.id)
        text = normalize(doc.text)
        if not text:
            continue
        n_docs += 1
        for k, piece in enumerate(chunk_text(text, max_chunk_bytes)):
            chunks.append((f"{doc.id}#{k}", doc.artifact, piece))
    chunks.sort(key=lambda chunk: _order_key(chunk[0]))
    return n_docs, chunks


def write_domain(
    source: DomainSource, chunks: list[tuple[str, str, str]], cap: int | None, out: Path, shard_bytes: int
) -> dict[str, Any]:
    """Write the first chunks (in sha1 order) that fit under ``cap`` bytes of text; the manifest entry."""
    labels = {a.key: a.label for a in source.artifacts}
    available = sum(len(text.encode("utf-8")) for _, _, text in chunks)
    kept_docs = kept_bytes = 0
    with ShardWriter(out / source.domain, source.domain, shard_bytes, root=out) as writer:
        for chunk_id, artifact, text in chunks:
            size = len(text.encode("utf-8"))
            if cap is not None and kept_bytes + size > cap:
                break
            writer.write({"id": chunk_id, "domain": source.domain, "source": labels[artifact], "text": text})
            kept_docs += 1
            kept_bytes += size
        shards = writer.close()
    return {
        "available_docs": len(chunks),
        "available_bytes": available,
        "kept_docs": kept_docs,
        "kept_bytes": kept_bytes,
        "cap_bytes": cap,
        "license": source.license,
        "shippable": source.shippable,
        "sources": sorted(labels.values()),
        "shards": shards,
    }


def build_domain(
    source: DomainSource, files: Mapping[str, Path], cap: int | None, out: Path, shard_bytes: int, max_chunk_bytes: int
) -> dict[str, Any]:
    """Extract, chunk, order, cap and write one domain under ``out``; its manifest entry."""
    n_docs, chunks = domain_chunks(source, files, max_chunk_bytes)
    return {"source_docs": n_docs, **write_domain(source, chunks, cap, out, shard_bytes)}


def _build_entry(args: tuple) -> tuple[str, dict[str, Any]]:
    return args[0].domain, build_domain(*args)


def _build_domains(
    selected, files, caps, out, shard_bytes, max_chunk_bytes, workers, progress
) -> dict[str, dict[str, Any]]:
    """Every domain's manifest entry; domains are independent, so ``workers`` processes share them
    (:func:`mixtures.resample.parallel.ordered_map`)."""
    from mixtures.resample.parallel import ordered_map

    args = [(s, files, caps[s.domain], out, shard_bytes, max_chunk_bytes) for s in selected]
    bar = _bar(len(args), progress, "extract", "domain")
    entries = {}
    try:
        for domain, entry in ordered_map(_build_entry, args, n_jobs=max(1, min(workers, len(args)))):
            entries[domain] = entry
            bar.update(1)
    finally:
        bar.close()
    return entries


def build_demo_corpus(
    out_dir: str | Path,
    cap_mb: float | None = DEFAULT_CAP_MB,
    caps: Mapping[str, float | None] | None = None,
    *,
    domains: Iterable[str] | None = None,
    cache_dir: str | Path | None = None,
    shard_mb: float = DEFAULT_SHARD_MB,
    max_chunk_bytes: int = MAX_CHUNK_BYTES,
    sources: Sequence[DomainSource] | None = None,
    progress: bool = False,
    force: bool = False,
    pip_args: Sequence[str] = (),
    workers: int | None = None,
) -> Path:
    """Build (or reuse) the multi-domain demo corpus; the path of its ``manifest.json``.

    Parameters
    ----------
    out_dir : path
        Output folder: ``<domain>/<domain>-00000.jsonl.gz`` shards, ``manifest.json``, ``ATTRIBUTION.md``.
        An existing build there is replaced only when it was built with other parameters.
    cap_mb : float or None
        Text kept per domain, in MB (1e6 bytes of UTF-8 text); None keeps everything available.
    caps : mapping, optional
        Per-domain caps in MB overriding ``cap_mb`` (e.g. ``{"pubmed": 8, "email": 1}``).
    domains : iterable of str, optional
        Build only these domains (default: every domain of ``sources``).
    cache_dir : path, optional
        Artifact cache (default :func:`~mixtures.demo_corpus.fetch.default_cache_dir`).
    shard_mb : float
        Start a new shard after this many MB of uncompressed JSON lines.
    max_chunk_bytes : int
        Documents longer than this (UTF-8 bytes) are cut into chunks ``<id>#0``, ``<id>#1``, ...
    sources : sequence of DomainSource, optional
        The sources table (default: the pinned :data:`~mixtures.demo_corpus.sources.DEMO_SOURCES`).
    progress : bool
        Show tqdm progress bars (the CLI does).
    force : bool
        Rebuild even when a complete build with the same parameters exists.
    pip_args : sequence of str
        Extra ``pip download`` arguments (e.g. a private index).
    workers : int, optional
        Processes extracting domains in parallel (default: ``min(2, cpu count)``); the output does
        not depend on it. With more than one, injected extractors must be picklable.

    Returns
    -------
    Path
        ``out_dir/manifest.json``.

    Raises
    ------
    CorpusError
        Unknown domain or cap, a download that fails or does not match its sha256, an output folder
        that is not a demo corpus, or a missing optional dependency (mwparserfromhell for wiki).
    """
    out_dir = Path(out_dir).expanduser().absolute()
    selected = select_sources(DEMO_SOURCES if sources is None else sources, domains)
    caps_b = cap_bytes(selected, cap_mb, caps)
    if not shard_mb > 0:
        raise CorpusError(f"shard_mb is {shard_mb}; it must be a positive number of MB")
    params = build_params(selected, caps_b, int(round(shard_mb * MB)), max_chunk_bytes)
    if not force and is_complete(out_dir, params):
        return manifest_path(out_dir)
    check_replaceable(out_dir)
    check_requirements(selected)
    if "mwparserfromhell" in params and params["mwparserfromhell"] != MWPARSER_VERSION:
        warnings.warn(
            f"the wiki domain is pinned to mwparserfromhell=={MWPARSER_VERSION}, found "
            f"{params['mwparserfromhell']}; its text may differ from the reference build",
            stacklevel=2,
        )

    cache = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    artifacts = list({a.key: a for s in selected for a in s.artifacts}.values())
    files: dict[str, Path] = {}
    bar = _bar(len(artifacts), progress, "fetch", "file")
    for artifact in artifacts:
        files[artifact.key] = fetch_artifact(artifact, cache, progress=progress, pip_args=pip_args)
        bar.update(1)
    bar.close()
    workers = min(2, os.cpu_count() or 1) if workers is None else workers

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.parent / f".{out_dir.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir()
        entries = _build_domains(
            selected, files, caps_b, tmp, params["shard_bytes"], max_chunk_bytes, workers, progress
        )
        license_files = write_license_files(artifacts, files, tmp)
        manifest = {
            "builder": BUILDER,
            "builder_version": BUILDER_VERSION,
            "params": params,
            "artifacts": {
                a.key: {"spec": a.spec, "source": a.label, "filename": a.filename, "sha256": a.sha256}
                for a in artifacts
            },
            "versions": _versions(params),
            "record_fields": ["id", "domain", "source", "text"],
            "license_files": license_files,
            "domains": entries,
            "totals": {
                "kept_docs": sum(e["kept_docs"] for e in entries.values()),
                "kept_bytes": sum(e["kept_bytes"] for e in entries.values()),
                "gz_bytes": sum(s["gz_bytes"] for e in entries.values() for s in e["shards"]),
            },
        }
        (tmp / "ATTRIBUTION.md").write_text(attribution_markdown(selected, entries, license_files), encoding="utf-8")
        manifest_path(tmp).write_text(dumps(manifest), encoding="utf-8")  # written last: marks completeness
        _swap_in(tmp, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return manifest_path(out_dir)


def _versions(params: dict[str, Any]) -> dict[str, Any]:
    import zlib

    versions = {"python": params["python"], "zlib": zlib.ZLIB_RUNTIME_VERSION}
    if "mwparserfromhell" in params:
        versions["mwparserfromhell"] = params["mwparserfromhell"]
    return versions


def _swap_in(tmp: Path, out_dir: Path) -> None:
    """Replace ``out_dir`` by the finished ``tmp`` (the old build is removed only after the rename)."""
    old = out_dir.parent / f".{out_dir.name}.old-{os.getpid()}"
    if out_dir.exists():
        os.replace(out_dir, old)
    os.replace(tmp, out_dir)
    shutil.rmtree(old, ignore_errors=True)


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _bar(total: int, progress: bool, desc: str, unit: str):
    if not progress:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr)
