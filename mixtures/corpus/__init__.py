"""Corpus ingestion: find, read, split and catalog the documents of each domain."""

from mixtures.corpus.catalog import build_catalog, catalog_domain, natural_mixture
from mixtures.corpus.domains import (
    domain_files,
    files_fingerprint,
    iter_batches,
    iter_documents,
    iter_texts,
    source_config,
    split_of,
)
from mixtures.corpus.readers import Document, ReadStats

__all__ = [
    "Document",
    "ReadStats",
    "build_catalog",
    "catalog_domain",
    "domain_files",
    "files_fingerprint",
    "iter_batches",
    "iter_documents",
    "iter_texts",
    "natural_mixture",
    "source_config",
    "split_of",
]
