"""Hashed unigram and bigram features of texts, computed in bulk with numpy.

A text is lowercased and split into WordPunct-style tokens (runs of word characters, or runs
of other non-space characters: the tokens of ``re.findall(r"\\w+|[^\\w\\s]+", text.lower())``).
Each token and each pair of adjacent tokens is hashed into one of ``buckets`` features with a
fixed 64-bit hash (8-byte blocks chained through the MurmurHash3 finaliser; BLAKE2b for the
rare token longer than 64 bytes), so a feature's bucket is the same in every process, run and
machine (unlike Python's salted ``hash``).

Everything runs on the UTF-8 bytes of a whole batch at once: no Python loop over documents
or tokens. Characters are classified per byte: ASCII letters, digits and ``_`` are word
characters, ASCII whitespace and control characters separate tokens, other ASCII is
punctuation, and every non-ASCII byte counts as a word character (so ``é`` or ``ß`` join
their word; so does non-ASCII punctuation such as ``’``, where WordPunct would split).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

LONG_TOKEN_BYTES = 64

_ALL_ONES = np.uint64(0xFFFFFFFFFFFFFFFF)
_LEN_KEY = np.uint64(0x9E3779B97F4A7C15)
_BLOCK_KEY = np.uint64(0xC2B2AE3D27D4EB4F)
_PAIR_KEY = np.uint64(0xD6E8FEB86659FD93)
_FMIX_1 = np.uint64(0xFF51AFD7ED558CCD)
_FMIX_2 = np.uint64(0xC4CEB9FE1A85EC53)
_S32 = np.uint64(32)
_S33 = np.uint64(33)


def fmix64(h: np.ndarray) -> np.ndarray:
    """The MurmurHash3 64-bit finaliser, element-wise, in place on a uint64 array (returned)."""
    with np.errstate(over="ignore"):
        h ^= h >> _S33
        h *= _FMIX_1
        h ^= h >> _S33
        h *= _FMIX_2
        h ^= h >> _S33
    return h


def utf8_buffer(texts: pa.Array | pa.ChunkedArray | Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """The UTF-8 bytes of ``texts`` back to back, and ``len(texts) + 1`` byte offsets (int64).

    A pyarrow string array is read without copying; nulls count as empty texts.
    """
    texts = as_string_array(texts)
    if len(texts) == 0:
        return np.zeros(0, dtype=np.uint8), np.zeros(1, dtype=np.int64)
    if texts.null_count:
        texts = pc.fill_null(texts, "")
    offset_type = np.int32 if pa.types.is_string(texts.type) else np.int64
    _, offsets_buf, data_buf = texts.buffers()
    offsets = np.frombuffer(offsets_buf, dtype=offset_type)[texts.offset: texts.offset + len(texts) + 1]
    offsets = offsets.astype(np.int64)
    if data_buf is None:
        return np.zeros(0, dtype=np.uint8), offsets - offsets[0]
    data = np.frombuffer(data_buf, dtype=np.uint8)[offsets[0]: offsets[-1]]
    return data, offsets - offsets[0]


def as_string_array(texts: pa.Array | pa.ChunkedArray | Sequence[str]) -> pa.Array:
    """``texts`` as one pyarrow ``string`` or ``large_string`` array."""
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks()
    if not isinstance(texts, pa.Array):
        texts = pa.array(texts, type=pa.large_string())
    if not (pa.types.is_string(texts.type) or pa.types.is_large_string(texts.type)):
        texts = texts.cast(pa.large_string())
    return texts


@dataclass(frozen=True)
class NgramBatch:
    """The hashed n-grams of a batch of texts.

    Attributes
    ----------
    token_doc : np.ndarray
        For each token of the batch (in order), the index of its text.
    unigram : np.ndarray
        For each token, its bucket in ``[0, buckets)``.
    bigram : np.ndarray
        For each token but the last, the bucket of the pair (token, next token); a pair that
        spans two texts gets the extra bucket ``buckets``, which no feature uses.
    words : np.ndarray
        Number of tokens of each text.
    n_bytes : np.ndarray
        UTF-8 bytes of each text.
    buckets : int
        Number of buckets.
    """

    token_doc: np.ndarray
    unigram: np.ndarray
    bigram: np.ndarray
    words: np.ndarray
    n_bytes: np.ndarray
    buckets: int

    def __len__(self) -> int:
        return len(self.words)

    def counts(self, docs: np.ndarray | None = None) -> np.ndarray:
        """Bucket counts (int64) summed over the batch, or over the texts flagged in ``docs``."""
        unigram, bigram = self.unigram, self.bigram
        if docs is not None:
            keep = docs[self.token_doc]
            unigram, bigram = unigram[keep], bigram[keep[:-1]]
        total = np.bincount(unigram, minlength=self.buckets)
        total += np.bincount(bigram, minlength=self.buckets + 1)[: self.buckets]
        return total.astype(np.int64)

    def doc_sums(self, values: np.ndarray) -> np.ndarray:
        """For each text, the sum of ``values[bucket]`` over its n-grams (float64)."""
        values = np.append(np.asarray(values, dtype=np.float64), 0.0)
        n_docs = len(self.words)
        total = np.bincount(self.token_doc, weights=values[self.unigram], minlength=n_docs)
        total += np.bincount(self.token_doc[:-1], weights=values[self.bigram], minlength=n_docs)
        return total


def _byte_classes() -> np.ndarray:
    """0 for separators, 1 for word bytes, 2 for punctuation (as ``\\w``, ``\\s`` on ASCII)."""
    table = np.full(256, 2, dtype=np.uint8)
    for byte in range(256):
        char = chr(byte)
        if byte >= 0x80 or char.isalnum() or char == "_":
            table[byte] = 1
        elif char.isspace():
            table[byte] = 0
    return table


_CLASSES = _byte_classes()


def _lower_ascii(data: np.ndarray) -> np.ndarray:
    upper = (data - np.uint8(ord("A"))) < 26
    return data + (upper.view(np.uint8) << np.uint8(5))


def _block_mask(remaining: np.ndarray) -> np.ndarray:
    """A mask keeping the first ``min(remaining, 8)`` little-endian bytes of a uint64."""
    keep = np.minimum(remaining, 8).astype(np.uint64) << np.uint64(3)
    return _ALL_ONES >> (np.uint64(64) - keep)


def _token_hashes(low: np.ndarray, start: np.ndarray, length: np.ndarray) -> np.ndarray:
    """64-bit hashes of the byte strings ``low[start:start+length]``."""
    padded = np.zeros(len(low) + 8, dtype=np.uint8)
    padded[: len(low)] = low
    blocks = np.ndarray(shape=(len(low),), dtype="<u8", buffer=padded, strides=(1,))
    with np.errstate(over="ignore"):
        h = blocks[start]
        h &= _block_mask(length)
        h ^= length.astype(np.uint64) * _LEN_KEY
        fmix64(h)
        pick = np.flatnonzero(length > 8)
        offset = 8
        while len(pick) and offset < LONG_TOKEN_BYTES:
            rest = length[pick] - offset
            block = blocks[start[pick] + offset] & _block_mask(rest)
            h[pick] = fmix64(h[pick] * _BLOCK_KEY + block)
            pick = pick[rest > 8]
            offset += 8
    for i in np.flatnonzero(length > LONG_TOKEN_BYTES):
        digest = hashlib.blake2b(low[start[i]: start[i] + length[i]].tobytes(), digest_size=8).digest()
        h[i] = int.from_bytes(digest, "little")
    return h


def _buckets_of(h: np.ndarray, buckets: int) -> np.ndarray:
    """Map uint64 hashes onto ``[0, buckets)`` by multiply-shift on their high 32 bits (intp)."""
    out = h >> _S32
    out *= np.uint64(buckets)
    out >>= _S32
    return out.view(np.int64).astype(np.intp, copy=False)


def hashed_ngrams(texts: pa.Array | pa.ChunkedArray | Sequence[str], buckets: int) -> NgramBatch:
    """Hash the lowercased unigrams and bigrams of each text into ``buckets`` (module docstring).

    Parameters
    ----------
    texts : pyarrow string array or sequence of str
        The batch. Memory is about 30 bytes per text byte: keep a batch to a few MB.
    buckets : int
        Number of hash buckets (features).
    """
    texts = as_string_array(texts)
    data, offsets = utf8_buffer(texts)
    n_docs = len(offsets) - 1
    n_bytes = np.diff(offsets)
    if len(data) and (data >= 0x80).any():  # full Unicode case folding; may change lengths
        data, offsets = utf8_buffer(pc.utf8_lower(texts))
    n = len(data)
    if n == 0:
        empty = np.zeros(0, dtype=np.intp)
        return NgramBatch(empty, empty, empty, np.zeros(n_docs, dtype=np.int64), n_bytes, buckets)
    low = _lower_ascii(data)
    classes = np.take(_CLASSES, low)
    token = classes != 0
    change = np.empty(n + 1, dtype=bool)  # change[i]: byte i starts a new run (i == n: the end)
    change[0] = change[n] = True
    np.not_equal(classes[1:], classes[:-1], out=change[1:n])
    doc_starts = offsets[1:-1]
    change[doc_starts] = True
    start = np.flatnonzero(change[:n] & token)
    end = np.flatnonzero(change[1:] & token) + 1
    del classes, token, change
    length = end - start

    token_hash = _token_hashes(low, start, length)
    words = np.diff(np.searchsorted(start, offsets)).astype(np.int64)
    token_doc = np.repeat(np.arange(n_docs, dtype=np.intp), words)
    with np.errstate(over="ignore"):
        pair_hash = token_hash[:-1] * _PAIR_KEY
        pair_hash += token_hash[1:]
    fmix64(pair_hash)
    bigram = _buckets_of(pair_hash, buckets)
    last_tokens = np.cumsum(words)[:-1] - 1  # pairs that end a text and start the next
    bigram[last_tokens[(last_tokens >= 0) & (last_tokens < len(bigram))]] = buckets
    return NgramBatch(token_doc, _buckets_of(token_hash, buckets), bigram, words, n_bytes, buckets)
