"""DSIR: importance resampling toward a target distribution (Xie et al. 2023).

A document's features are its hashed unigrams and bigrams (:mod:`mixtures.resample.ngrams`).
Two bucket distributions are fitted, one on the raw pool and one on the target examples,
each smoothed with a pseudo-count per bucket. A document's log importance weight is
``sum_b count_b * (log p_target(b) - log p_raw(b))``; adding Gumbel noise drawn from a seeded
generator and taking the top k samples k documents without replacement with probability
proportional to their weights. The quality signal is the KL reduction: how much closer the
selected documents' feature distribution is to the target than the raw pool's is.

Compared with the reference implementation (``data-selection`` 1.0.3): short documents are
excluded only by an explicit ``min_length`` (default 0) and counted; selecting every eligible
document works; the seed is a parameter; the result keeps each document's position and
weight; featurization is vectorized and runs on every core.

Raw texts come as a *stream factory*: a callable returning a fresh iterable of text batches
(pyarrow string arrays or lists of str) in the same order every call; positions in that
order identify documents. :func:`dsir_select` reads and featurizes the stream once, keeping
the hashed n-grams in an on-disk :class:`FeatureCache` (about 0.7 bytes per text byte) for
scoring and for the KL, or (``cache_dir=False``) featurizes it again on each pass
(:class:`StreamFeatures`); both give the same n-grams to the same scoring code. Memory holds
per-document numbers only, never the texts.
"""

from __future__ import annotations

import tempfile
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from mixtures.errors import MixturesError
from mixtures.resample.ngrams import NgramBatch, as_string_array, hashed_ngrams, utf8_buffer
from mixtures.resample.parallel import ordered_map

TextBatch = pa.Array | pa.ChunkedArray | Sequence[str]
TextStream = Callable[[], Iterable[TextBatch]]

DEFAULT_BUCKETS = 10_000
THREADS = "threads"  # featurizing is NumPy kernels: threads run it in parallel without copying
CHUNK_BYTES = 1 << 19  # ~0.5 MB of text per featurized chunk: the hot arrays stay in cache


class DsirError(MixturesError):
    """A DSIR selection cannot be made as asked (e.g. more documents than are eligible)."""


# -- streaming helpers -----------------------------------------------------------------------


def text_chunks(batches: Iterable[TextBatch], chunk_bytes: int = CHUNK_BYTES) -> Iterator[pa.Array]:
    """Re-cut a stream of text batches into arrays of about ``chunk_bytes`` of text.

    Texts keep their order and are never split; small batches are merged.
    """
    pending: list[pa.Array] = []
    pending_bytes = 0
    for batch in batches:
        texts = as_string_array(batch)
        _, offsets = utf8_buffer(texts)
        start, n = 0, len(texts)
        while start < n:
            need = chunk_bytes - pending_bytes  # first stop with at least `need` bytes since start
            stop = int(np.searchsorted(offsets, offsets[start] + need, side="left"))
            stop = min(max(stop, start + 1), n)
            pending.append(texts.slice(start, stop - start))
            pending_bytes += int(offsets[stop] - offsets[start])
            start = stop
            if pending_bytes >= chunk_bytes:
                yield _concat(pending)
                pending, pending_bytes = [], 0
    if pending:
        yield _concat(pending)


def _concat(arrays: list[pa.Array]) -> pa.Array:
    """One compact array (a copy: a pickled slice would carry its parent's whole buffer)."""
    if len({a.type for a in arrays}) > 1:
        arrays = [a.cast(pa.large_string()) for a in arrays]
    return pa.concat_arrays(arrays)


def _keep_chunk(index: int, fraction: float, seed: int) -> bool:
    """A stable pseudo-random choice of chunks (for fitting the raw pool on a sample)."""
    if fraction >= 1.0:
        return True
    digest = zlib.crc32(f"{seed}:{index}".encode())
    return digest / 2**32 < fraction


# -- worker functions (top level: they run in worker processes) -------------------------------

_WORKER: dict = {}


def _set_worker_state(buckets: int, log_ratio: np.ndarray | None = None) -> None:
    _WORKER["buckets"] = buckets
    _WORKER["log_ratio"] = log_ratio


def _chunk_counts(texts: pa.Array) -> np.ndarray:
    return hashed_ngrams(texts, _WORKER["buckets"]).counts()


def _chunk_ngrams(texts: pa.Array) -> NgramBatch:
    return hashed_ngrams(texts, _WORKER["buckets"])


def _chunk_features(texts: pa.Array) -> tuple:
    grams = hashed_ngrams(texts, _WORKER["buckets"])
    dtype = FeatureCache.dtype_for(_WORKER["buckets"])
    return grams.counts(), grams.words, grams.n_bytes, grams.unigram.astype(dtype), grams.bigram.astype(dtype)


# -- fitting -----------------------------------------------------------------------------------


def ngram_counts(
    batches: Iterable[TextBatch],
    buckets: int = DEFAULT_BUCKETS,
    n_jobs: int | None = 1,
    fraction: float = 1.0,
    seed: int = 0,
) -> np.ndarray:
    """Hashed n-gram bucket counts summed over a stream of texts (int64, length ``buckets``).

    ``fraction < 1`` featurizes only a stable pseudo-random share of the ~0.5 MB chunks
    (chosen with ``seed``): an unbiased sample for estimating a large pool's distribution.
    """
    chunks = (c for i, c in enumerate(text_chunks(batches)) if _keep_chunk(i, fraction, seed))
    total = np.zeros(buckets, dtype=np.int64)
    for counts in ordered_map(_chunk_counts, chunks, n_jobs, _set_worker_state, (buckets,), THREADS):
        total += counts
    return total


def smoothed_log_probs(counts: np.ndarray, smoothing: float) -> np.ndarray:
    """``log((counts + smoothing) / (sum + smoothing * buckets))``."""
    counts = np.asarray(counts, dtype=np.float64)
    return np.log(counts + smoothing) - np.log(counts.sum() + smoothing * len(counts))


def kl_divergence(p_counts: np.ndarray, q_counts: np.ndarray, smoothing: float = 1.0) -> float:
    """KL(p || q) in nats between two smoothed bucket distributions."""
    log_p = smoothed_log_probs(p_counts, smoothing)
    log_q = smoothed_log_probs(q_counts, smoothing)
    return float(np.sum(np.exp(log_p) * (log_p - log_q)))


@dataclass(frozen=True)
class ImportanceModel:
    """Fitted DSIR importance estimator: raw and target bucket counts, smoothed.

    Attributes
    ----------
    raw_counts, target_counts : np.ndarray
        Bucket counts of the raw pool (or a sample of it) and of the target examples.
    smoothing : float
        Pseudo-count added to every bucket of both distributions.
    """

    raw_counts: np.ndarray
    target_counts: np.ndarray
    smoothing: float = 1.0

    def __post_init__(self) -> None:
        if len(self.raw_counts) != len(self.target_counts):
            raise DsirError(
                f"raw and target counts have {len(self.raw_counts)} and {len(self.target_counts)} buckets; "
                "fit both with the same number of buckets."
            )
        if self.target_counts.sum() == 0:
            raise DsirError("the target examples have no tokens; give a non-empty target set.")
        if self.smoothing <= 0:
            raise DsirError(f"smoothing is {self.smoothing}; it must be > 0.")

    @property
    def buckets(self) -> int:
        return len(self.raw_counts)

    @property
    def log_ratio(self) -> np.ndarray:
        """Per bucket ``log p_target - log p_raw``: a document's log weight sums these."""
        return smoothed_log_probs(self.target_counts, self.smoothing) - smoothed_log_probs(self.raw_counts, self.smoothing)

    def kl_from_target(self, counts: np.ndarray) -> float:
        """KL(target || distribution of ``counts``): lower is closer to the target."""
        return kl_divergence(self.target_counts, counts, self.smoothing)


def fit_importance(
    raw: Iterable[TextBatch] | np.ndarray,
    target: Iterable[TextBatch] | np.ndarray,
    buckets: int = DEFAULT_BUCKETS,
    smoothing: float = 1.0,
    n_jobs: int | None = 1,
    raw_fraction: float = 1.0,
    seed: int = 0,
) -> ImportanceModel:
    """Fit the raw and target bucket distributions.

    ``raw`` and ``target`` are streams of text batches, or bucket counts already computed
    (e.g. summed over several domains' :func:`ngram_counts` to fit across a pool).
    """
    raw_counts = raw if isinstance(raw, np.ndarray) else ngram_counts(raw, buckets, n_jobs, raw_fraction, seed)
    target_counts = target if isinstance(target, np.ndarray) else ngram_counts(target, buckets, n_jobs)
    return ImportanceModel(np.asarray(raw_counts, np.int64), np.asarray(target_counts, np.int64), smoothing)


# -- scoring and selection -----------------------------------------------------------------------


@dataclass(frozen=True)
class Scores:
    """Per document of a stream (by position): log importance weight, tokens and bytes."""

    log_weight: np.ndarray
    words: np.ndarray
    n_bytes: np.ndarray

    def __len__(self) -> int:
        return len(self.log_weight)

    def eligible(self, min_length: int) -> np.ndarray:
        """Documents with at least ``min_length`` tokens (bool)."""
        return self.words >= min_length


def score_documents(model: ImportanceModel, batches: Iterable[TextBatch], n_jobs: int | None = 1) -> Scores:
    """Log importance weights of every document of a stream, in stream order."""
    return score_features(model, StreamFeatures(lambda: batches, model.buckets, n_jobs))


def score_features(model: ImportanceModel, features: StreamFeatures | FeatureCache) -> Scores:
    """Log importance weights, tokens and bytes of every document, from its n-grams."""
    if features.buckets != model.buckets:
        raise DsirError(f"the features have {features.buckets} buckets, the model {model.buckets}.")
    parts = [(grams.doc_sums(model.log_ratio), grams.words, grams.n_bytes) for grams in features.batches()]
    if not parts:
        empty = np.zeros(0)
        return Scores(empty, empty.astype(np.int64), empty.astype(np.int64))
    return Scores(*(np.concatenate(column) for column in zip(*parts)))


def selected_counts(features: StreamFeatures | FeatureCache, selected: np.ndarray) -> np.ndarray:
    """Bucket counts of the documents flagged in ``selected`` (bool per stream position)."""
    total = np.zeros(features.buckets, dtype=np.int64)
    position = 0
    for grams in features.batches():
        keep = selected[position: position + len(grams)]
        if keep.any():
            total += grams.counts(keep)
        position += len(grams)
    return total


def gumbel_top_k(
    log_weight: np.ndarray,
    k: int | None = None,
    seed: int = 0,
    eligible: np.ndarray | None = None,
    noise: bool = True,
) -> np.ndarray:
    """Positions of ``k`` documents sampled without replacement in proportion to their weights.

    Gumbel-perturbed log weights, top ``k``, best first (ties broken by position). Noise is
    drawn for every document from ``numpy.random.default_rng(seed)``, so a document's draw
    does not depend on which others are eligible. ``k=None`` ranks every eligible document;
    ``noise=False`` takes the deterministic top ``k``.
    """
    log_weight = np.asarray(log_weight, dtype=np.float64)
    key = log_weight + np.random.default_rng(seed).gumbel(size=len(log_weight)) if noise else log_weight.copy()
    candidates = np.flatnonzero(eligible) if eligible is not None else np.arange(len(log_weight))
    k = len(candidates) if k is None else int(k)
    if k < 0:
        raise DsirError(f"asked for {k} documents; ask for 0 or more.")
    if k > len(candidates):
        raise DsirError(
            f"asked for {k} documents but only {len(candidates)} of {len(log_weight)} are eligible; "
            "ask for fewer, lower min_length, or add data."
        )
    if k == 0:
        return np.zeros(0, dtype=np.int64)
    cand_key = key[candidates]
    if k < len(candidates):
        top = np.argpartition(-cand_key, k - 1)[:k]
    else:
        top = np.arange(len(candidates))
    order = np.lexsort((candidates[top], -cand_key[top]))
    return candidates[top[order]].astype(np.int64)


class StreamFeatures:
    """Hashed n-grams of a stream, featurized again on every pass (nothing on disk).

    ``stream`` is a stream factory (see the module); :meth:`batches` gives the same
    :class:`~mixtures.resample.ngrams.NgramBatch` objects :class:`FeatureCache` gives back.
    """

    def __init__(self, stream: TextStream, buckets: int, n_jobs: int | None = 1) -> None:
        self.stream = stream
        self.buckets = buckets
        self.n_jobs = n_jobs

    def batches(self) -> Iterator[NgramBatch]:
        return ordered_map(_chunk_ngrams, text_chunks(self.stream()), self.n_jobs, _set_worker_state,
                           (self.buckets,), THREADS)


class FeatureCache:
    """Hashed n-grams of a stream, kept on disk so the stream is read and featurized once.

    Two append-only files hold each token's bucket and each adjacent pair's bucket (uint16 for
    up to 65,535 buckets, else uint32: about 0.7 bytes per text byte); the token count of every
    chunk and document stays in memory. :meth:`batches` gives back the same
    :class:`~mixtures.resample.ngrams.NgramBatch` objects the featurizer made, so scores from
    the cache are bit-identical to scores from the texts.
    """

    def __init__(self, folder: str | Path, buckets: int) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.buckets = buckets
        self.dtype = self.dtype_for(buckets)
        self.chunk_words: list[np.ndarray] = []
        self.chunk_bytes: list[np.ndarray] = []
        for name in ("unigram.bin", "bigram.bin"):
            (self.folder / name).write_bytes(b"")

    @staticmethod
    def dtype_for(buckets: int) -> type:
        return np.uint16 if buckets < 2**16 else np.uint32  # bigram sentinel == buckets must fit

    def append(self, words: np.ndarray, n_bytes: np.ndarray, unigram: np.ndarray, bigram: np.ndarray) -> None:
        with open(self.folder / "unigram.bin", "ab") as fh:
            fh.write(np.ascontiguousarray(unigram, dtype=self.dtype).tobytes())
        with open(self.folder / "bigram.bin", "ab") as fh:
            fh.write(np.ascontiguousarray(bigram, dtype=self.dtype).tobytes())
        self.chunk_words.append(np.asarray(words, dtype=np.int64))
        self.chunk_bytes.append(np.asarray(n_bytes, dtype=np.int64))

    def batches(self) -> Iterator[NgramBatch]:
        """The cached n-grams chunk by chunk, read sequentially (only one chunk in memory)."""
        with open(self.folder / "unigram.bin", "rb") as unigrams, open(self.folder / "bigram.bin", "rb") as bigrams:
            for words, n_bytes in zip(self.chunk_words, self.chunk_bytes, strict=True):
                tokens = int(words.sum())
                unigram = np.fromfile(unigrams, dtype=self.dtype, count=tokens).astype(np.intp)
                bigram = np.fromfile(bigrams, dtype=self.dtype, count=max(tokens - 1, 0)).astype(np.intp)
                token_doc = np.repeat(np.arange(len(words), dtype=np.intp), words)
                yield NgramBatch(token_doc, unigram, bigram, words, n_bytes, self.buckets)

    def save(self) -> None:
        """Persist the per-chunk document sizes so another process can :meth:`open` the cache."""
        lengths = np.array([len(w) for w in self.chunk_words], dtype=np.int64)
        empty = np.zeros(0, dtype=np.int64)
        tmp = self.folder / "chunks.tmp.npz"
        np.savez(tmp, lengths=lengths, buckets=self.buckets,
                 words=np.concatenate(self.chunk_words) if self.chunk_words else empty,
                 n_bytes=np.concatenate(self.chunk_bytes) if self.chunk_bytes else empty)
        tmp.replace(self.folder / "chunks.npz")

    @classmethod
    def open(cls, folder: str | Path) -> FeatureCache:
        """A cache written and saved earlier (e.g. by another process)."""
        folder = Path(folder)
        with np.load(folder / "chunks.npz") as data:
            cache = cls.__new__(cls)
            cache.folder, cache.buckets = folder, int(data["buckets"])
            cache.dtype = cls.dtype_for(cache.buckets)
            cuts = np.cumsum(data["lengths"])[:-1]
            cache.chunk_words = np.split(data["words"], cuts) if len(data["lengths"]) else []
            cache.chunk_bytes = np.split(data["n_bytes"], cuts) if len(data["lengths"]) else []
        return cache


def featurize_to_cache(
    batches: Iterable[TextBatch],
    cache: FeatureCache,
    n_jobs: int | None = 1,
    fraction: float = 1.0,
    seed: int = 0,
) -> np.ndarray:
    """One pass: cache every document's n-grams and return the bucket counts.

    Counts cover the ``fraction`` sample of chunks (see :func:`ngram_counts`); the cache
    covers every document.
    """
    total = np.zeros(cache.buckets, dtype=np.int64)
    results = ordered_map(_chunk_features, text_chunks(batches), n_jobs, _set_worker_state, (cache.buckets,), THREADS)
    for i, (counts, words, n_bytes, unigram, bigram) in enumerate(results):
        if _keep_chunk(i, fraction, seed):
            total += counts
        cache.append(words, n_bytes, unigram, bigram)
    return total


def stable_seed(seed: int, *names: str) -> int:
    """A seed derived from ``seed`` and names (e.g. a domain), the same on every machine."""
    key = "\0".join(names).encode("utf-8")
    return int(np.random.SeedSequence([seed, zlib.crc32(key)]).generate_state(1, np.uint64)[0] >> np.uint64(1))


@dataclass
class DsirSelection:
    """The outcome of :func:`dsir_select`.

    Attributes
    ----------
    indices : np.ndarray
        Selected stream positions, best (highest perturbed weight) first.
    scores : Scores
        Weight, tokens and bytes of every document of the stream.
    min_length : int
        Documents with fewer tokens were not eligible.
    excluded_short : int
        How many documents ``min_length`` excluded.
    seed : int
        Seed of the Gumbel noise.
    kl_raw, kl_selected : float or None
        KL(target || raw pool) and KL(target || selected), when measured.
    """

    indices: np.ndarray
    scores: Scores
    min_length: int
    excluded_short: int
    seed: int
    model: ImportanceModel
    kl_raw: float | None = None
    kl_selected: float | None = None
    extra: dict = field(default_factory=dict)

    @property
    def kl_reduction(self) -> float | None:
        if self.kl_raw is None or self.kl_selected is None:
            return None
        return self.kl_raw - self.kl_selected

    def summary(self) -> dict:
        """JSON-ready numbers: counts, exclusions, seed and the KL reduction."""
        return {
            "documents": len(self.scores),
            "selected": len(self.indices),
            "min_length": self.min_length,
            "excluded_short": self.excluded_short,
            "seed": self.seed,
            "buckets": self.model.buckets,
            "kl_raw": self.kl_raw,
            "kl_selected": self.kl_selected,
            "kl_reduction": self.kl_reduction,
            **self.extra,
        }


def dsir_select(
    raw: TextStream,
    target: Iterable[TextBatch] | np.ndarray,
    k: int | None,
    *,
    buckets: int = DEFAULT_BUCKETS,
    min_length: int = 0,
    seed: int = 0,
    smoothing: float = 1.0,
    n_jobs: int | None = 1,
    raw_fraction: float = 1.0,
    measure_kl: bool = True,
    model: ImportanceModel | None = None,
    cache_dir: str | Path | None | bool = None,
) -> DsirSelection:
    """Select ``k`` documents of the raw stream (``None``: rank all eligible) toward the target.

    By default the raw stream is read and featurized once, its n-grams cached on disk in a
    temporary folder (``cache_dir``: a folder of your choice; ``False``: no cache, read the
    stream again for scoring and for the KL). Pass a fitted ``model`` to skip fitting.
    """
    if min_length < 0:
        raise DsirError(f"min_length is {min_length}; it must be >= 0.")
    with _raw_features(raw, model.buckets if model is not None else buckets, n_jobs, raw_fraction, seed,
                       cache_dir, need_counts=model is None) as (features, raw_counts):
        if model is None:
            model = fit_importance(raw_counts, target, buckets, smoothing, n_jobs)
        scores = score_features(model, features)
        eligible = scores.eligible(min_length)
        indices = gumbel_top_k(scores.log_weight, k, seed, eligible)
        selection = DsirSelection(indices, scores, min_length, int((~eligible).sum()), seed, model)
        if measure_kl:
            mask = np.zeros(len(scores), dtype=bool)
            mask[indices] = True
            selection.kl_raw = model.kl_from_target(model.raw_counts)
            selection.kl_selected = model.kl_from_target(selected_counts(features, mask))
    return selection


@contextmanager
def _raw_features(raw: TextStream, buckets: int, n_jobs: int | None, fraction: float, seed: int,
                  cache_dir: str | Path | None | bool, need_counts: bool) -> Iterator[tuple]:
    """The raw stream's features (cached in a temporary folder, or re-featurized per pass when
    ``cache_dir`` is ``False``) and its bucket counts (``None`` when not needed)."""
    if cache_dir is False:
        counts = ngram_counts(raw(), buckets, n_jobs, fraction, seed) if need_counts else None
        yield StreamFeatures(raw, buckets, n_jobs), counts
        return
    with tempfile.TemporaryDirectory(prefix="dsir-", dir=cache_dir or None) as folder:
        cache = FeatureCache(folder, buckets)
        counts = featurize_to_cache(raw(), cache, n_jobs, fraction, seed)
        yield cache, counts
