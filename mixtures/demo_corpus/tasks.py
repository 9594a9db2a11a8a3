"""The demo's multiple-choice task, built from the demo corpus: a cloze on held-out Django documentation.

The ``docs`` target set (Django's reStructuredText docs, never trained on) is cut into prose paragraphs
(blank-line separated blocks that are not directives, headings, lists, tables or code, joined into one
line). Each item is a point inside a word of a paragraph (at least ``MIN_PART`` letters on each side):
the ``context`` is up to ``context_bytes`` of text before it (starting at a word), the correct choice the
text that follows, the rest of the word and the words after it up to ``choice_bytes``; the other choices
are spans of the same kind (starting inside a word) drawn from paragraphs of other documents of the same
source. Whether a continuation completes the word and the phrase is what a byte-level model can judge
(the true next sentence against others, the issue's example, is beyond a ``micro`` model: measured at
chance). The spans fit a ``micro`` model's 64-byte context. Every draw is seeded: the same corpus and
seed give the same file, byte for byte.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mixtures.errors import CorpusError
from mixtures.storage import atomic_write_bytes

CONTEXT_BYTES = 40
CHOICE_BYTES = 20
N_CHOICES = 4
MIN_WORDS = 1      # whole words after the rest of the cut word
MIN_PART = 2       # letters of the cut word on each side of the cut
_MARKUP = (".. ", "=", "-", "*", "|", ":", "#", ">>>", "+", "`", "$", "~", "^")
_PROSE = re.compile(r"^[A-Za-z0-9 ,.;'()\-]+$")


def prose_paragraphs(text: str, min_bytes: int) -> list[str]:
    """The document's prose paragraphs, each as one line, of at least ``min_bytes`` (ASCII only)."""
    out = []
    for block in re.split(r"\n[ \t]*\n", text):
        lines = [line.strip() for line in block.splitlines() if line.strip()]
        if not lines or any(line.startswith(_MARKUP) for line in lines) or block.startswith((" ", "\t")):
            continue
        paragraph = " ".join(lines)
        if len(paragraph) >= min_bytes and _PROSE.match(paragraph):
            out.append(paragraph)
    return out


def _span(paragraph: str, cut: int, max_bytes: int) -> str | None:
    """From ``cut`` (inside a word): the rest of the word, then whole words up to ``max_bytes``; None when
    fewer than ``MIN_WORDS`` words follow the rest of the word."""
    rest, *words = paragraph[cut:].split(" ")
    span, n = rest, 0
    for word in words:
        if not word or len(span) + 1 + len(word) > max_bytes:
            break
        span, n = f"{span} {word}", n + 1
    return span if n >= MIN_WORDS and len(span) <= max_bytes else None


def _cuts(paragraph: str, lo: int) -> list[int]:
    """Positions from ``lo`` inside a word of letters, ``MIN_PART`` letters or more on each side."""
    out = []
    for match in re.finditer(r"[A-Za-z]+", paragraph):
        a, b = match.span()
        out.extend(i for i in range(a + MIN_PART, b - MIN_PART + 1) if i >= lo)
    return out


def cloze_items(documents: Sequence[tuple[str, str]], *, n_items: int, seed: int = 0,
                context_bytes: int = CONTEXT_BYTES, choice_bytes: int = CHOICE_BYTES,
                n_choices: int = N_CHOICES) -> list[dict]:
    """``n_items`` cloze items ``{"id", "context", "choices", "answer"}`` from ``(doc_id, text)`` documents
    (see the module docstring); a :class:`CorpusError` when the documents hold too little prose."""
    paragraphs = [(doc_id, p) for doc_id, text in sorted(documents)
                  for p in prose_paragraphs(text, context_bytes + choice_bytes)]
    sources = sorted({doc_id for doc_id, _ in paragraphs})
    if len(paragraphs) < n_choices or len(sources) < 2:
        raise CorpusError(f"the documents hold {len(paragraphs)} prose paragraph(s) in {len(sources)} document(s); "
                          f"a cloze task needs at least {n_choices} in 2 or more.")
    rng = np.random.default_rng([seed, 0xC102E])
    items, seen, tries = [], set(), 0
    while len(items) < n_items and tries < 50 * n_items:
        tries += 1
        doc_id, paragraph = paragraphs[int(rng.integers(len(paragraphs)))]
        cuts = _cuts(paragraph, context_bytes)
        if not cuts:
            continue
        cut = cuts[int(rng.integers(len(cuts)))]
        answer_text = _span(paragraph, cut, choice_bytes)
        head = paragraph[max(0, cut - context_bytes):cut]
        context = head[head.find(" ") + 1:]  # from a word start
        if answer_text is None or not context.strip() or (doc_id, cut) in seen:
            continue
        distractors: list[str] = []
        for _ in range(100 * n_choices):
            if len(distractors) == n_choices - 1:
                break
            other_id, other = paragraphs[int(rng.integers(len(paragraphs)))]
            if other_id == doc_id:
                continue
            other_cuts = _cuts(other, 0)
            span = _span(other, other_cuts[int(rng.integers(len(other_cuts)))], choice_bytes) if other_cuts else None
            if span is not None and span != answer_text and span not in distractors:
                distractors.append(span)
        if len(distractors) < n_choices - 1:
            continue
        answer = int(rng.integers(n_choices))
        choices = distractors[:answer] + [answer_text] + distractors[answer:]
        seen.add((doc_id, cut))
        items.append({"id": f"{doc_id}@{cut}", "context": context, "choices": choices, "answer": answer})
    if len(items) < n_items:
        raise CorpusError(f"only {len(items)} of {n_items} cloze items could be drawn; ask for fewer.")
    return items


def read_domain_documents(folder: str | Path) -> list[tuple[str, str]]:
    """``(id, text)`` of every document in a demo-corpus domain folder (its ``*.jsonl.gz`` shards)."""
    folder = Path(folder)
    shards = sorted(folder.glob("*.jsonl.gz"))
    if not shards:
        raise CorpusError(f"{folder}: no *.jsonl.gz shards; build the demo corpus first (mixtures corpus build-demo).")
    documents = []
    for shard in shards:
        with gzip.open(shard, "rt", encoding="utf-8") as fh:
            documents.extend((row["id"], row["text"]) for row in map(json.loads, fh))
    return documents


def write_cloze_task(corpus_dir: str | Path, out: str | Path, *, n_items: int = 1000, seed: int = 0,
                     domain: str = "docs") -> Path:
    """Write the demo cloze task (jsonl, :mod:`mixtures.tasks` schema) from ``corpus_dir/<domain>`` to ``out``."""
    items = cloze_items(read_domain_documents(Path(corpus_dir) / domain), n_items=n_items, seed=seed)
    out = Path(out)
    atomic_write_bytes(out, "".join(json.dumps(item, sort_keys=True) + "\n" for item in items).encode("utf-8"))
    return out
