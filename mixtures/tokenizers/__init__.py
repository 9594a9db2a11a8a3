"""Tokenizers behind one protocol, chosen by ``corpus.tokenizer``.

Every consumer (the catalog's token counts, the token cache, the trainers, tokenized dataset outputs)
calls :func:`project_tokenizer` and uses the :class:`Tokenizer` protocol, so adding a tokenizer is one
module registered in :data:`TOKENIZERS`. Losses stay in bits per byte under every tokenizer: a
tokenizer also says how many UTF-8 bytes of the text each token stands for (:func:`encode_with_bytes`).

Backends: ``bytes`` (here), ``bpe`` (:mod:`mixtures.tokenizers.bpe`, trained on the corpus) and ``hf``
(:mod:`mixtures.tokenizers.hf`, the user's ``tokenizer.json``). The backend modules are imported when
a config names them, so this module stays cheap to import (the config validates names against it).
"""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from mixtures.registry import Registry


@runtime_checkable
class Tokenizer(Protocol):
    """Text to token ids and back."""

    name: str          # the registry name, e.g. "bytes"
    vocab_size: int
    eod_id: int        # the end-of-document token written after every document
    fingerprint: str   # hex digest of everything that defines the tokenizer (cache and manifest key)

    def encode_batch(self, texts: Sequence[str]) -> list[np.ndarray]:
        """One id array per text (dtype :func:`token_dtype` of ``vocab_size``), no end-of-document token."""

    def decode(self, ids: Sequence[int] | np.ndarray) -> str:
        """The text of ``ids`` (the inverse of encoding one text)."""


def token_dtype(vocab_size: int) -> np.dtype:
    """The smallest unsigned integer type that holds every id of a vocabulary."""
    if vocab_size <= 1 << 8:
        return np.dtype(np.uint8)
    if vocab_size <= 1 << 16:
        return np.dtype(np.uint16)
    return np.dtype(np.uint32)


class ByteTokenizer:
    """UTF-8 bytes as tokens (vocab 256); the 0 byte, which text does not contain, ends a document."""

    name = "bytes"
    vocab_size = 256
    eod_id = 0
    fingerprint = hashlib.sha256(b"mixtures-bytes-utf8-v1").hexdigest()
    path = None  # nothing on disk

    def encode_batch(self, texts: Sequence[str]) -> list[np.ndarray]:
        return [np.frombuffer(text.encode("utf-8"), dtype=np.uint8) for text in texts]

    def encode_with_bytes(self, texts: Sequence[str]) -> list[tuple[np.ndarray, np.ndarray]]:
        ids = self.encode_batch(texts)
        return [(a, np.ones(len(a), dtype=np.uint16)) for a in ids]

    def decode(self, ids: Sequence[int] | np.ndarray) -> str:
        return bytes(np.asarray(ids, dtype=np.uint8)).decode("utf-8", errors="replace")


def encode_with_bytes(tokenizer: Tokenizer, texts: Sequence[str]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per text, its token ids and how many UTF-8 bytes of the text each token covers.

    The byte counts of a text sum to its UTF-8 length exactly, so summed nats over summed bytes is
    bits per byte whatever the tokenizer. Tokenizers with offsets implement ``encode_with_bytes``; for
    any other, each token is credited with the bytes of its own decoded text.
    """
    own = getattr(tokenizer, "encode_with_bytes", None)
    if own is not None:
        return own(texts)
    out = []
    for text, ids in zip(texts, tokenizer.encode_batch(texts), strict=True):
        counts = np.array([len(tokenizer.decode([int(i)]).encode("utf-8")) for i in ids], dtype=np.int64)
        out.append((ids, fit_byte_counts(counts, len(text.encode("utf-8")))))
    return out


def fit_byte_counts(counts: np.ndarray, total: int) -> np.ndarray:
    """``counts`` adjusted so they sum to ``total`` (the last token absorbs the difference, never < 0)."""
    counts = np.asarray(counts, dtype=np.int64).copy()
    if len(counts):
        running = np.cumsum(counts)
        over = running > total
        if over.any():  # cut back to the text's length
            counts = np.diff(np.minimum(running, total), prepend=0)
        counts[-1] += total - int(counts.sum())
    if len(counts) and counts.max(initial=0) > np.iinfo(np.uint16).max:
        raise ValueError(f"a token covers {int(counts.max())} bytes (more than 65535)")
    return counts.astype(np.uint16)


def tokenizer_name(config: Any) -> str:
    """The registry name ``corpus.tokenizer`` stands for (``"hf"`` for ``{hf: {path: ...}}``)."""
    choice = config.corpus.tokenizer
    return choice if isinstance(choice, str) else "hf"


TokenizerFactory = Callable[[Any], Tokenizer]  # a ProjectConfig -> its tokenizer (this module cannot import config)
TOKENIZERS: Registry[TokenizerFactory] = Registry("tokenizer", field="corpus.tokenizer")
TOKENIZERS.add("bytes", lambda config: ByteTokenizer())


def _lazy(module: str, function: str) -> TokenizerFactory:
    """A factory that imports its backend module when first called (keeps this module import-light)."""

    def factory(config: Any) -> Tokenizer:
        return getattr(importlib.import_module(module), function)(config)

    factory.__qualname__ = f"{module}.{function}"
    return factory


TOKENIZERS.add("bpe", _lazy("mixtures.tokenizers.bpe", "bpe_tokenizer"))
TOKENIZERS.add("hf", _lazy("mixtures.tokenizers.hf", "hf_tokenizer"))


def project_tokenizer(config: Any) -> Tokenizer:
    """The tokenizer ``config.corpus.tokenizer`` names (``bpe`` is trained on first use, then reused)."""
    return TOKENIZERS.get(tokenizer_name(config))(config)


def tokenizer_file(config: Any) -> Path | None:
    """The tokenizer's file (``tokenizer.json``) for ``bpe`` and ``hf``, ``None`` for ``bytes``.

    What a pipeline logs as an MLflow artifact and hands to the command trainer."""
    path = getattr(project_tokenizer(config), "path", None)
    return Path(path) if path else None


def describe(tokenizer: Tokenizer) -> dict:
    """The tokenizer as JSON-able data (name, vocab size, end-of-document id, fingerprint, dtype, file)."""
    path = getattr(tokenizer, "path", None)
    return {"name": tokenizer.name, "vocab_size": int(tokenizer.vocab_size), "eod_id": int(tokenizer.eod_id),
            "fingerprint": tokenizer.fingerprint, "dtype": token_dtype(tokenizer.vocab_size).name,
            "path": str(path) if path else None}


__all__ = [
    "TOKENIZERS", "ByteTokenizer", "Tokenizer", "describe", "encode_with_bytes", "fit_byte_counts",
    "project_tokenizer", "token_dtype", "tokenizer_file", "tokenizer_name",
]
