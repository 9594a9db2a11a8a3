"""Tokenizers in the Hugging Face ``tokenizer.json`` format: the user's own file (``hf``), and the
wrapper the trained ``bpe`` tokenizer uses too.

``corpus.tokenizer: {hf: {path: tokenizer.json, eod_token: null}}`` loads the file (relative to the
config's folder); nothing is downloaded. The end-of-document token is ``eod_token`` or, unset, the
first of :data:`EOD_CANDIDATES` the vocabulary has. Special-token strings inside documents are encoded
as ordinary text, so the end-of-document id appears only where the token cache puts it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mixtures.errors import ConfigError
from mixtures.tokenizers import fit_byte_counts, token_dtype

if TYPE_CHECKING:
    from mixtures.config import ProjectConfig

EOD_CANDIDATES = ("<|endoftext|>", "<|end_of_text|>", "</s>", "<eos>", "<|eos|>", "[EOS]", "<|im_end|>", "[SEP]")
FIELD = "corpus.tokenizer.hf.path"


def _byte_ends(text: str, char_ends: np.ndarray) -> np.ndarray:
    """UTF-8 byte offsets of the character offsets ``char_ends`` of ``text``."""
    if text.isascii():
        return char_ends
    points = np.frombuffer(text.encode("utf-32-le"), dtype="<u4")
    widths = 1 + (points >= 0x80).astype(np.int64) + (points >= 0x800) + (points >= 0x10000)
    starts = np.concatenate([[0], np.cumsum(widths)])
    return starts[char_ends]


class HFTokenizer:
    """A ``tokenizers.Tokenizer`` behind the :class:`~mixtures.tokenizers.Tokenizer` protocol."""

    def __init__(self, backend, *, name: str, path: Path, eod_token: str, fingerprint: str) -> None:
        self._backend = backend
        self._backend.encode_special_tokens = True  # a literal "<|endoftext|>" in a document is text
        self.name = name
        self.path = Path(path)
        self.eod_token = eod_token
        self.eod_id = int(backend.token_to_id(eod_token))
        self.vocab_size = int(backend.get_vocab_size(with_added_tokens=True))
        self.fingerprint = fingerprint
        self.dtype = token_dtype(self.vocab_size)

    def _encode(self, texts: Sequence[str]):
        return self._backend.encode_batch(list(texts), add_special_tokens=False)

    def encode_batch(self, texts: Sequence[str]) -> list[np.ndarray]:
        return [np.asarray(e.ids, dtype=self.dtype) for e in self._encode(texts)]

    def encode_with_bytes(self, texts: Sequence[str]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Ids and bytes per token from the offsets: each token covers the bytes from the furthest end
        reached before it to its own end (tokens splitting one character share it: the first gets it)."""
        out = []
        for text, enc in zip(texts, self._encode(texts), strict=True):
            ids = np.asarray(enc.ids, dtype=self.dtype)
            if len(ids) == 0:
                out.append((ids, np.zeros(0, dtype=np.uint16)))
                continue
            ends = _byte_ends(text, np.asarray(enc.offsets, dtype=np.int64).reshape(-1, 2)[:, 1])
            reached = np.maximum.accumulate(ends)
            counts = np.diff(reached, prepend=0)
            try:
                out.append((ids, fit_byte_counts(counts, len(text.encode("utf-8")))))
            except ValueError as exc:
                raise ConfigError(f"tokenizer {self.path}: {exc}; it cannot be used for bits-per-byte losses.") from None
        return out

    def decode(self, ids: Sequence[int] | np.ndarray) -> str:
        return self._backend.decode([int(i) for i in np.asarray(ids).reshape(-1)], skip_special_tokens=False)


def load_tokenizer_file(path: Path, *, name: str, eod_token: str | None, field: str = FIELD) -> HFTokenizer:
    """An :class:`HFTokenizer` from ``path``; a missing, unreadable or corrupt file is refused by name."""
    try:
        from tokenizers import Tokenizer as Backend
    except ImportError:
        raise ConfigError(f"{field}: the Hugging Face 'tokenizers' package is not installed; "
                          "pip install 'mixtures[bpe]' (or tokenizers).") from None
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{field}: tokenizer file {path} does not exist; give the path of a tokenizer.json "
                          "(relative to the config's folder). Nothing is downloaded.")
    try:
        data = path.read_bytes()
        backend = Backend.from_str(data.decode("utf-8"))
    except (OSError, UnicodeDecodeError, Exception) as exc:  # tokenizers raises a bare Exception on bad JSON
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(f"{field}: {path} is not a readable tokenizer.json ({first}); "
                          "save one with tokenizers' Tokenizer.save().") from None
    vocab = backend.get_vocab(with_added_tokens=True)
    if eod_token is None:
        eod_token = next((t for t in EOD_CANDIDATES if t in vocab), None)
        if eod_token is None:
            raise ConfigError(f"{field}: {path} has none of the end-of-document tokens {list(EOD_CANDIDATES)}; "
                              "name one with corpus.tokenizer.hf.eod_token.")
    elif eod_token not in vocab:
        raise ConfigError(f"corpus.tokenizer.hf.eod_token: {eod_token!r} is not in the vocabulary of {path}.")
    digest = hashlib.sha256(data + b"\0eod=" + eod_token.encode("utf-8")).hexdigest()
    return HFTokenizer(backend, name=name, path=path, eod_token=eod_token, fingerprint=digest)


_LOADED: dict[tuple[str, str | None, int, int], HFTokenizer] = {}


def hf_tokenizer(config: ProjectConfig) -> HFTokenizer:
    """The user's tokenizer file of ``corpus.tokenizer.hf`` (loaded once per process and file version)."""
    choice = config.corpus.tokenizer.hf
    path = Path(choice.path)
    if not path.is_absolute():
        path = Path(config.base_dir) / path
    try:
        stat = path.stat()
        key = (str(path), choice.eod_token, stat.st_size, stat.st_mtime_ns)
    except OSError:
        key = None
    if key is not None and key in _LOADED:
        return _LOADED[key]
    tokenizer = load_tokenizer_file(path, name="hf", eod_token=choice.eod_token)
    if key is not None:
        _LOADED[key] = tokenizer
    return tokenizer
