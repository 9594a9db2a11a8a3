"""Normalizing documents and cutting long ones into chunks of bounded size."""

from __future__ import annotations

import re
import unicodedata

MAX_CHUNK_BYTES = 16_384
_BLANK_LINE = re.compile(r"\n[ \t]*\n+")


def normalize(text: str) -> str:
    """NFC, ``\\n`` line ends, no NUL characters, no surrounding blank space."""
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    return text.replace("\x00", "").strip()


def _size(text: str) -> int:
    return len(text.encode("utf-8"))


def _hard_cut(text: str, max_bytes: int) -> list[str]:
    """Cut at ``max_bytes`` UTF-8 bytes, never inside a character."""
    data = text.encode("utf-8")
    pieces = []
    start = 0
    while start < len(data):
        end = min(start + max_bytes, len(data))
        while end < len(data) and (data[end] & 0xC0) == 0x80:  # a continuation byte: back off
            end -= 1
        pieces.append(data[start:end].decode("utf-8"))
        start = end
    return pieces


def _pack(parts: list[str], separator: str, max_bytes: int, split_further) -> list[str]:
    """Greedily join ``parts`` with ``separator`` into pieces of at most ``max_bytes``."""
    pieces: list[str] = []
    current: list[str] = []
    size = 0
    sep = _size(separator)
    for part in parts:
        part_size = _size(part)
        if part_size > max_bytes:
            if current:
                pieces.append(separator.join(current))
                current, size = [], 0
            pieces.extend(split_further(part))
            continue
        added = part_size + (sep if current else 0)
        if current and size + added > max_bytes:
            pieces.append(separator.join(current))
            current, size, added = [], 0, part_size
        current.append(part)
        size += added
    if current:
        pieces.append(separator.join(current))
    return pieces


def chunk_text(text: str, max_bytes: int = MAX_CHUNK_BYTES) -> list[str]:
    """Split ``text`` into chunks of at most ``max_bytes`` UTF-8 bytes.

    Paragraphs (blank-line separated) are packed greedily; a paragraph that is too long is cut at
    single newlines; a line that is still too long is cut hard, on a character boundary. Chunks are
    stripped and never empty. A text that fits is returned whole.
    """
    if max_bytes < 4:
        raise ValueError(f"max_bytes must be at least 4 (one UTF-8 character), got {max_bytes}")
    if _size(text) <= max_bytes:
        return [text] if text.strip() else []

    def by_lines(paragraph: str) -> list[str]:
        return _pack(paragraph.split("\n"), "\n", max_bytes, lambda line: _hard_cut(line, max_bytes))

    pieces = _pack(_BLANK_LINE.split(text), "\n\n", max_bytes, by_lines)
    return [p.strip() for p in pieces if p.strip()]
