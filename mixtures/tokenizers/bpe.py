"""``corpus.tokenizer: bpe``: a byte-level BPE trained with Hugging Face ``tokenizers`` on the corpus.

The training text is a seeded, deterministic sample of the training domains' train splits: per
domain, the documents with the smallest ``blake2b(seed, doc id)`` keys until ``corpus.bpe_sample_mb /
len(domains)`` MB are reached (an equal share per domain, so a small domain still shapes the
vocabulary; independent of file order; held-out target sets and validation documents never enter it).
The vocabulary has ``corpus.bpe_vocab_size`` tokens at most (fewer when the sample has fewer merges),
the 256 byte symbols and ``<|endoftext|>`` (id 0) included.

The file is ``<storage.root>/tokenizers/bpe-<sample hash>.json``: the hash covers the sample's texts,
the vocabulary size and the recipe, so the same sample always maps to the same file and a changed
corpus to a new one. A small index keyed by the domains' file fingerprints (paths, sizes, mtimes)
lets later processes find the file without reading the corpus again.
"""

from __future__ import annotations

import hashlib
import heapq
import json
from pathlib import Path
from typing import TYPE_CHECKING

from mixtures.tokenizers.hf import HFTokenizer, load_tokenizer_file

if TYPE_CHECKING:
    from mixtures.config import ProjectConfig

RECIPE = "mixtures-bytelevel-bpe-v1"
EOD_TOKEN = "<|endoftext|>"
FIELD = "corpus.tokenizer"


def sample_key(seed: int, doc_id: str) -> int:
    """The document's place in the seeded sample order (smaller comes first)."""
    return int.from_bytes(hashlib.blake2b(f"{int(seed)}\0{doc_id}".encode("utf-8"), digest_size=8).digest(), "big")


def domain_sample(config: ProjectConfig, name: str, budget_bytes: int) -> list[str]:
    """Texts of the train-split documents of ``name`` with the smallest sample keys, until their UTF-8
    size first reaches ``budget_bytes`` (all of them for a smaller domain), in key order."""
    from mixtures.corpus.domains import iter_documents

    heap: list[tuple[int, str, int]] = []  # (-key, text, bytes): the largest key on top
    held = 0
    for doc in iter_documents(config, name, split="train"):
        size = len(doc.text.encode("utf-8"))
        heapq.heappush(heap, (-sample_key(config.seed, doc.doc_id), doc.text, size))
        held += size
        while len(heap) > 1 and held - heap[0][2] >= budget_bytes:
            held -= heapq.heappop(heap)[2]
    return [text for _, text, _ in sorted(heap, reverse=True)]


def training_sample(config: ProjectConfig) -> list[str]:
    """The BPE training texts: each training domain's sample, domains in config order."""
    budget = max(1, int(config.corpus.bpe_sample_mb * 1e6 / len(config.domain_names)))
    texts: list[str] = []
    for name in config.domain_names:
        texts.extend(domain_sample(config, name, budget))
    return texts


def _sample_hash(texts: list[str], vocab_size: int) -> str:
    import tokenizers

    digest = hashlib.sha256(f"{RECIPE}\0{vocab_size}\0{tokenizers.__version__}\0".encode())
    for text in texts:
        digest.update(hashlib.sha256(text.encode("utf-8")).digest())
    return digest.hexdigest()


def train_bpe(texts: list[str], vocab_size: int) -> str:
    """The ``tokenizer.json`` text of a byte-level BPE trained on ``texts`` (deterministic)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=int(vocab_size), min_frequency=2, special_tokens=[EOD_TOKEN],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tokenizer.train_from_iterator(texts, trainer, length=len(texts))
    return tokenizer.to_str()


def _index_path(config: ProjectConfig) -> Path:
    from mixtures.corpus.domains import files_fingerprint

    prints = files_fingerprint(config)
    key = json.dumps({"recipe": RECIPE, "seed": config.seed, "vocab": config.corpus.bpe_vocab_size,
                      "sample_mb": config.corpus.bpe_sample_mb, "val_fraction": config.corpus.val_fraction,
                      "files": {d: prints[d] for d in config.domain_names}}, sort_keys=True)
    return tokenizer_dir(config) / "index" / f"{hashlib.sha256(key.encode()).hexdigest()[:24]}.txt"


def tokenizer_dir(config: ProjectConfig) -> Path:
    return Path(config.root) / "tokenizers"


def build_bpe_file(config: ProjectConfig) -> Path:
    """Train (or find) the project's BPE tokenizer file from its sample; returns its path."""
    from mixtures.storage import atomic_write_bytes, atomic_write_text

    try:
        import tokenizers  # noqa: F401
    except ImportError:
        from mixtures.errors import ConfigError

        raise ConfigError(f"{FIELD} is 'bpe', which needs the Hugging Face 'tokenizers' package; "
                          "pip install 'mixtures[bpe]' (or tokenizers).") from None
    index = _index_path(config)
    if index.is_file():
        known = tokenizer_dir(config) / index.read_text(encoding="utf-8").strip()
        if known.is_file():
            return known
    texts = training_sample(config)
    path = tokenizer_dir(config) / f"bpe-{_sample_hash(texts, config.corpus.bpe_vocab_size)[:16]}.json"
    if not path.is_file():
        atomic_write_bytes(path, train_bpe(texts, config.corpus.bpe_vocab_size).encode("utf-8"))
    atomic_write_text(index, path.name + "\n")
    return path


_LOADED: dict[str, HFTokenizer] = {}


def bpe_tokenizer(config: ProjectConfig) -> HFTokenizer:
    """The project's trained BPE tokenizer (trained on first use, then read from storage)."""
    path = build_bpe_file(config)
    if str(path) not in _LOADED:
        _LOADED[str(path)] = load_tokenizer_file(path, name="bpe", eod_token=EOD_TOKEN, field=FIELD)
    return _LOADED[str(path)]
