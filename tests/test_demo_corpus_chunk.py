"""Normalizing and chunking documents for the demo corpus."""

from __future__ import annotations

import unicodedata

import pytest

from mixtures.demo_corpus.chunk import chunk_text, normalize


def _bytes(text: str) -> int:
    return len(text.encode("utf-8"))


def test_short_text_is_one_chunk_and_empty_text_none():
    assert chunk_text("a short document", 100) == ["a short document"]
    assert chunk_text("   \n ", 100) == []


def test_paragraphs_are_packed_whole_and_rejoin_to_the_original():
    paragraphs = [f"paragraph {i} " + "x" * (20 + 5 * i) for i in range(30)]  # each fits in 200 bytes
    text = "\n\n".join(paragraphs)
    chunks = chunk_text(text, 200)
    assert len(chunks) > 1
    assert all(_bytes(c) <= 200 for c in chunks)
    assert "\n\n".join(chunks) == text  # cut only between paragraphs, never inside one
    assert all(any(p in c for c in chunks) for p in paragraphs)


def test_long_paragraph_is_cut_at_newlines():
    lines = [f"line {i} " + "y" * 30 for i in range(40)]
    text = "\n".join(lines)
    chunks = chunk_text(text, 150)
    assert all(_bytes(c) <= 150 for c in chunks)
    assert "\n".join(chunks) == text
    for chunk in chunks:
        assert all(line in lines for line in chunk.split("\n"))


def test_overlong_line_is_cut_on_character_boundaries():
    text = "é" * 50 + "€" * 20  # 2- and 3-byte characters, no newline at all
    chunks = chunk_text(text, 15)
    assert all(_bytes(c) <= 15 for c in chunks)
    assert "".join(chunks) == text


def test_mixed_document_keeps_every_character_in_order():
    text = "Intro.\n\n" + "\n".join("z" * 90 for _ in range(5)) + "\n\n" + "w" * 400 + "\n\nEnd."
    chunks = chunk_text(text, 128)
    assert all(0 < _bytes(c) <= 128 for c in chunks)
    assert "".join(chunks).replace("\n", "") == text.replace("\n", "")
    assert chunks[0].startswith("Intro.") and chunks[-1].endswith("End.")


def test_max_bytes_must_hold_a_character():
    with pytest.raises(ValueError, match="at least 4"):
        chunk_text("text", 3)


def test_normalize_line_ends_unicode_form_and_blank_space():
    decomposed = unicodedata.normalize("NFD", "café")
    assert normalize(f"\r\n  {decomposed}\r\nline two\rthree\x00 \n\n") == "café\nline two\nthree"
