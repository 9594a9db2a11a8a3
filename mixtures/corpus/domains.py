"""Documents of a configured domain (or held-out target set), split deterministically.

The split is a hash of the document id, so a document keeps its split when files are added,
removed or reordered, and every reader of the corpus agrees on it.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from itertools import islice
from pathlib import Path

from mixtures.config import DomainConfig, ProjectConfig
from mixtures.corpus.files import resolve_domain_files
from mixtures.corpus.readers import Document, ReadSpec, ReadStats, is_remote, read_file, read_record_batches
from mixtures.errors import CorpusError

SPLITS = ("train", "val")


def split_of(doc_id: str, val_fraction: float) -> str:
    """``"val"`` for a stable ``val_fraction`` share of document ids, else ``"train"``."""
    digest = hashlib.blake2b(doc_id.encode("utf-8"), digest_size=8).digest()
    return "val" if int.from_bytes(digest, "big") / 2**64 < val_fraction else "train"


def source_config(config: ProjectConfig, name: str) -> DomainConfig:
    """The config of a training domain or of a held-out target set, by name."""
    for source in [*config.domains, *config.target.sets]:
        if source.name == name:
            return source
    known = config.domain_names + [s.name for s in config.target.sets]
    raise CorpusError(f"no domain or target set named {name!r}; known: {known}")


def domain_files(config: ProjectConfig, name: str) -> list[tuple[Path, str]]:
    """The files (with formats) of a domain or target set, sorted."""
    source = source_config(config, name)
    return resolve_domain_files(source.name, source.paths, source.format, Path(config.base_dir))


def file_label(path: Path, base: Path) -> str:
    """A file's stable name inside document ids: relative to ``base`` when possible."""
    if is_remote(path) or is_remote(base):
        text, root = str(path), str(base).rstrip("/") + "/"
        return text[len(root):] if text.startswith(root) else text
    try:
        return path.resolve().relative_to(base.resolve()).as_posix()
    except ValueError:
        return path.resolve().as_posix()


def label_base(files: list[tuple[Path, str]], config_dir: Path) -> Path:
    """What file labels are relative to: the config folder when every file is inside it, else the
    folder the domain's files share, so document ids (and the train/val split drawn from them) do not
    depend on where a corpus outside the config's folder happens to be checked out."""
    if any(is_remote(p) for p, _ in files):  # the folder the URLs share (as for files outside the config's folder)
        parents = [str(p).rstrip("/").rpartition("/")[0] for p, _ in files]
        common = os.path.commonprefix(parents)
        if not all(p == common or p.startswith(common.rstrip("/") + "/") for p in parents):
            common = common.rpartition("/")[0]
        from mixtures.storage import as_path

        return as_path(common)
    config_dir = config_dir.resolve()
    resolved = [p.resolve() for p, _ in files]
    if all(config_dir in p.parents for p in resolved):
        return config_dir
    return Path(os.path.commonpath([str(p.parent) for p in resolved])) if resolved else config_dir


def iter_documents(
    config: ProjectConfig,
    name: str,
    split: str | None = None,
    stats: ReadStats | None = None,
) -> Iterator[Document]:
    """Stream the documents of a domain or target set, optionally only one split.

    Raises :class:`CorpusError` for unreadable input (naming file and line, per
    ``corpus.on_bad_line``) and for a domain without any document.
    """
    if split is not None and split not in SPLITS:
        raise CorpusError(f"unknown split {split!r}; use one of {SPLITS}")
    source = source_config(config, name)
    spec = ReadSpec(text_field=source.text_field, id_field=source.id_field, on_bad_line=config.corpus.on_bad_line)
    stats = stats if stats is not None else ReadStats()
    files = domain_files(config, name)
    base = label_base(files, Path(config.base_dir))
    total = 0
    for path, fmt in files:
        for doc in read_file(path, fmt, spec, file_label(path, base), stats):
            total += 1
            if split is None or split_of(doc.doc_id, config.corpus.val_fraction) == split:
                yield doc
    if total == 0:
        shown = ", ".join(str(p) for p, _ in files[:3]) + (" ..." if len(files) > 3 else "")
        extra = f" ({stats.skipped} bad lines skipped)" if stats.skipped else ""
        raise CorpusError(f"domain {name!r} has no documents{extra}; its files: {shown}. Add data or remove the domain.")


def iter_batches(
    config: ProjectConfig, name: str, split: str | None = None, batch_docs: int | None = None
) -> Iterator[list[Document]]:
    """The documents of :func:`iter_documents` in lists of ``batch_docs`` (default from the config)."""
    size = batch_docs or config.corpus.batch_docs
    docs = iter_documents(config, name, split)
    while batch := list(islice(docs, size)):
        yield batch


def split_mask(doc_ids: list[str], val_fraction: float, split: str):
    """A boolean NumPy mask: which of ``doc_ids`` fall into ``split`` (as :func:`split_of` decides)."""
    import numpy as np

    blake2b = hashlib.blake2b
    digests = b"".join([blake2b(d.encode("utf-8"), digest_size=8).digest() for d in doc_ids])
    # uint64 -> float64 rounds to nearest like int / 2**64 does; dividing by 2**64 is exact
    is_val = np.frombuffer(digests, dtype=">u8").astype(np.float64) / 2.0**64 < val_fraction
    return is_val if split == "val" else ~is_val


def iter_record_batches(
    config: ProjectConfig, name: str, split: str | None = None, batch_docs: int | None = None
) -> Iterator:
    """The documents of :func:`iter_batches` as Arrow tables (``text``, ``doc_id``, ``source``,
    ``line``) of the same ``batch_docs`` rows each, made of zero-copy slices of the files' record
    batches (:func:`~mixtures.corpus.readers.read_record_batches`). For parquet, Hugging Face
    folders and JSON lines no Python object is made per document except its id, for the split.
    """
    import numpy as np
    import pyarrow as pa

    from mixtures.corpus.readers import numpy_to_arrow

    if split is not None and split not in SPLITS:
        raise CorpusError(f"unknown split {split!r}; use one of {SPLITS}")
    size = batch_docs or config.corpus.batch_docs
    source = source_config(config, name)
    spec = ReadSpec(text_field=source.text_field, id_field=source.id_field, on_bad_line=config.corpus.on_bad_line)
    stats = ReadStats()
    files = domain_files(config, name)
    base = label_base(files, Path(config.base_dir))
    total = 0
    pending: list = []
    held = 0
    for path, fmt in files:
        for batch in read_record_batches(path, fmt, spec, file_label(path, base), stats):
            total += batch.num_rows
            if split is not None and batch.num_rows:
                mask = split_mask(batch.column(1).to_pylist(), config.corpus.val_fraction, split)
                if not mask.all():
                    batch = batch.take(numpy_to_arrow(np.flatnonzero(mask)))
            while batch.num_rows:
                take = min(size - held, batch.num_rows)
                pending.append(batch.slice(0, take))
                held += take
                batch = batch.slice(take)
                if held == size:
                    yield pa.Table.from_batches(pending)
                    pending, held = [], 0
    if held:
        yield pa.Table.from_batches(pending)
    if total == 0:
        shown = ", ".join(str(p) for p, _ in files[:3]) + (" ..." if len(files) > 3 else "")
        extra = f" ({stats.skipped} bad lines skipped)" if stats.skipped else ""
        raise CorpusError(f"domain {name!r} has no documents{extra}; its files: {shown}. Add data or remove the domain.")


def iter_texts(config: ProjectConfig, name: str, split: str | None = None) -> Iterator[str]:
    """Only the texts of :func:`iter_documents`."""
    for doc in iter_documents(config, name, split):
        yield doc.text


def files_fingerprint(config: ProjectConfig) -> dict[str, str]:
    """Per domain and target set, a hash of its files' paths, sizes and modification times.

    Cheap (no file is read): sensors compare it to notice new or changed domain files. A domain
    whose paths currently match nothing gets the fingerprint ``"missing"``.
    """
    out = {}
    for source in [*config.domains, *config.target.sets]:
        try:
            files = domain_files(config, source.name)
        except CorpusError:
            out[source.name] = "missing"
            continue
        digest = hashlib.blake2b(digest_size=12)
        for path, fmt in files:
            targets = sorted(path.glob("*.arrow")) if fmt == "hf" else [path]
            for target in targets:
                if is_remote(target):
                    from mixtures.storage import stamp

                    digest.update(f"{target}\0{stamp(target)}\n".encode())
                    continue
                stat = target.stat()
                digest.update(f"{target}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
        out[source.name] = digest.hexdigest()
    return out
