"""Tokenizers behind one protocol, chosen by ``corpus.tokenizer``.

Every consumer (the catalog's token counts, the token cache, the trainers, tokenized dataset outputs)
calls :func:`project_tokenizer` and uses the :class:`Tokenizer` protocol, so adding a tokenizer is one
module registered in :data:`TOKENIZERS`. Losses stay in bits per byte under every tokenizer.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from mixtures.registry import Registry

if TYPE_CHECKING:
    from mixtures.config import ProjectConfig


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

    def encode_batch(self, texts: Sequence[str]) -> list[np.ndarray]:
        return [np.frombuffer(text.encode("utf-8"), dtype=np.uint8) for text in texts]

    def decode(self, ids: Sequence[int] | np.ndarray) -> str:
        return bytes(np.asarray(ids, dtype=np.uint8)).decode("utf-8", errors="replace")


TokenizerFactory = Callable[["ProjectConfig"], Tokenizer]
TOKENIZERS: Registry[TokenizerFactory] = Registry("tokenizer", field="corpus.tokenizer")
TOKENIZERS.add("bytes", lambda config: ByteTokenizer())


def project_tokenizer(config: ProjectConfig) -> Tokenizer:
    """The tokenizer ``config.corpus.tokenizer`` names."""
    return TOKENIZERS.get(config.corpus.tokenizer)(config)


__all__ = ["TOKENIZERS", "ByteTokenizer", "Tokenizer", "project_tokenizer", "token_dtype"]
