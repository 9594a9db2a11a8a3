"""What a materialization reads: the domains' documents, DSIR target texts and the corpus fingerprint."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

from mixtures.config import ProjectConfig
from mixtures.errors import ConfigError

BATCH_DOCS = 1024


class ConfigReader:
    """Batches of a domain's documents through the project's corpus layer (picklable)."""

    def __init__(self, config, split: str | None = "train", batch_docs: int | None = None) -> None:
        self.config = config
        self.split = split
        self.batch_docs = batch_docs

    def __call__(self, domain: str) -> Iterator[list]:
        from mixtures.corpus import iter_batches

        return iter_batches(self.config, domain, self.split, self.batch_docs)

    def record_batches(self, domain: str) -> Iterator | None:
        """The same documents as Arrow tables of the same sizes (no Python object per document
        where the format allows: parquet, Hugging Face folders, JSON lines)."""
        from mixtures.corpus.domains import iter_record_batches

        return iter_record_batches(self.config, domain, self.split, self.batch_docs)

    def input_bytes(self, domain: str) -> int:
        """Bytes of the domain's files (to start the largest domains first)."""
        from mixtures import storage
        from mixtures.corpus import domain_files

        total = 0
        for path, _ in domain_files(self.config, domain):
            files = storage.find(path) if storage.isdir(path) else [path]
            total += sum(storage.size(f) for f in files)
        return total


def dsir_target_batches(config: ProjectConfig, paths: list[str] | None = None) -> Iterator[list[str]]:
    """Text batches of the DSIR target: ``paths`` (files in any corpus format, relative to the cwd),
    else the target sets named in ``dataset.dsir.target``, else every target set of the config."""
    from mixtures.corpus import iter_batches

    if not paths:
        names = config.dataset.dsir.target or [s.name for s in config.target.sets]
        if not names:
            raise ConfigError(
                "DSIR is on but there is no target: give --dsir-target PATH or add target.sets to the config."
            )
        for name in names:
            for batch in iter_batches(config, name, batch_docs=BATCH_DOCS):
                yield [doc.text for doc in batch]
        return
    from mixtures.corpus.files import resolve_domain_files
    from mixtures.corpus.readers import ReadSpec, ReadStats, read_file

    spec = ReadSpec(on_bad_line=config.corpus.on_bad_line)
    for path, fmt in resolve_domain_files("dsir-target", paths, "auto", Path.cwd()):
        batch: list[str] = []
        for doc in read_file(path, fmt, spec, str(path), ReadStats()):
            batch.append(doc.text)
            if len(batch) == BATCH_DOCS:
                yield batch
                batch = []
        if batch:
            yield batch


def corpus_fingerprint(config: ProjectConfig, domains: list[str]) -> str:
    """A hash of the named domains' files (paths, sizes, mtimes): recorded in the manifest."""
    from mixtures.corpus import files_fingerprint

    prints = files_fingerprint(config)
    return hashlib.sha256(json.dumps({d: prints.get(d) for d in domains}, sort_keys=True).encode()).hexdigest()
