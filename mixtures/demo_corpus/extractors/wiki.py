"""wiki: English Wikipedia articles from gensim's test data, wikitext stripped to plain text."""

from __future__ import annotations

import bz2
import io
import re
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from mixtures.demo_corpus.extractors.common import Doc, artifact_path
from mixtures.errors import CorpusError

MEMBER = "gensim/test/test_data/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
MWPARSER_VERSION = "0.7.2"
_REFS = re.compile(r"<ref[^>]*/>|<ref[^>]*>.*?</ref>", flags=re.DOTALL | re.IGNORECASE)
_BLANKS = re.compile(r"\n{3,}")
# A wikitable "{| ... |}" with no table opening inside it (nested tables go innermost first).
_TABLE = re.compile(r"^[ \t]*\{\|(?:(?!^[ \t]*\{\|).)*?^[ \t]*\|\}[ \t]*$", flags=re.MULTILINE | re.DOTALL)
_MEDIA_LINK = re.compile(r"^\s*:?\s*(file|image|media|category)\s*:", flags=re.IGNORECASE)


def drop_tables(wikitext: str) -> str:
    """Remove ``{| ... |}`` tables (their cells are data, and malformed ones leak markup)."""
    while True:
        stripped = _TABLE.sub("", wikitext)
        if stripped == wikitext:
            return stripped
        wikitext = stripped


def strip_code_function() -> Callable[[str], str]:
    """Wikitext to plain text with ``mwparserfromhell`` (imported lazily, with an install hint).

    Image, file and category links are removed whole (otherwise ``thumb|caption`` stays behind);
    other links keep their text, templates go.
    """
    try:
        import mwparserfromhell
    except ImportError:
        raise CorpusError(
            "the wiki domain needs mwparserfromhell to turn wikitext into plain text; install it with "
            f"`pip install 'mixtures[demo-corpus]'` (or `pip install mwparserfromhell=={MWPARSER_VERSION}`), "
            "or leave the wiki domain out of the build."
        ) from None

    def strip_code(wikitext: str) -> str:
        code = mwparserfromhell.parse(wikitext)
        for link in code.filter_wikilinks():
            if _MEDIA_LINK.match(str(link.title)):
                try:
                    code.remove(link)
                except ValueError:  # inside a link removed before
                    pass
        return code.strip_code()

    return strip_code


def wikitext_to_plain(wikitext: str, strip_code: Callable[[str], str]) -> str:
    """Plain text of one article: footnotes and tables dropped, markup stripped, blank runs collapsed."""
    return _BLANKS.sub("\n\n", strip_code(drop_tables(_REFS.sub("", wikitext)))).strip()


def extract(files: Mapping[str, Path]) -> Iterator[Doc]:
    """One document per main-namespace article; redirects are skipped. Id: ``enwiki/<title>``."""
    strip_code = strip_code_function()  # fail before reading anything if the parser is missing
    with zipfile.ZipFile(artifact_path(files, "gensim")) as archive:
        xml_bytes = bz2.decompress(archive.read(MEMBER))
    for _, element in ET.iterparse(io.BytesIO(xml_bytes)):
        if element.tag.rsplit("}", 1)[-1] != "page":
            continue
        ns = element.tag[: -len("page")]
        title = element.findtext(f"{ns}title") or ""
        namespace = element.findtext(f"{ns}ns") or "0"
        wikitext = element.findtext(f"{ns}revision/{ns}text") or ""
        element.clear()
        if namespace != "0" or not title or wikitext.lstrip().upper().startswith("#REDIRECT"):
            continue
        yield Doc(f"enwiki/{title}", wikitext_to_plain(wikitext, strip_code), "gensim")
