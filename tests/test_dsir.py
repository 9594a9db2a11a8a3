"""DSIR: stable hashed n-grams, importance weights, Gumbel top-k and the KL reduction."""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from mixtures.resample.dsir import (
    DsirError,
    dsir_select,
    fit_importance,
    gumbel_top_k,
    ngram_counts,
    score_documents,
    text_chunks,
)
from mixtures.resample.ngrams import hashed_ngrams

WORDPUNCT = re.compile(r"\w+|[^\w\s]+")
REPO = Path(__file__).resolve().parents[1]

GENERAL = "the of and a to in is was that it for on with as by at from this be are or".split()
SPORT = "match goal team season player coach league score win final cup striker referee".split()
COOKING = "recipe oven flour sugar butter bake minutes salt pepper sauce simmer dough whisk".split()


def _docs(topic: list[str], n: int, seed: int, lengths=(40, 120)) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        words = [rng.choice(topic if rng.random() < 0.4 else GENERAL) for _ in range(rng.randint(*lengths))]
        out.append(" ".join(words).capitalize() + ".")
    return out


def _stream(texts: list[str], batch: int = 37):
    return lambda: (texts[i: i + batch] for i in range(0, len(texts), batch))


# -- featurizer ----------------------------------------------------------------------------------


def test_tokens_match_wordpunct_on_ascii():
    texts = [
        "Hello, World!! It's 3.14 -- x_y z__ (a+b)*c;",
        "  leading and trailing  ",
        "",
        "tabs\tand\nnewlines\x1cfile-sep\x7fdel",
        "UPPER lower MiXeD 123abc ...!!!",
        "a" * 200 + " " + "b" * 70 + "!",
    ]
    grams = hashed_ngrams(texts, 1 << 16)
    expected = [len(WORDPUNCT.findall(t.lower())) for t in texts]
    assert grams.words.tolist() == expected
    assert grams.n_bytes.tolist() == [len(t.encode()) for t in texts]
    assert grams.counts().sum() == sum(max(2 * n - 1, 0) for n in expected)


def test_unigram_bucket_is_a_function_of_the_lowercased_token():
    texts = _docs(SPORT, 50, 1) + ["Goal GOAL goal gOaL", "École école ÉCOLE"]
    grams = hashed_ngrams(texts, 1 << 20)
    tokens = [tok for t in texts for tok in WORDPUNCT.findall(t.lower())]
    seen: dict[str, int] = {}
    for tok, bucket in zip(tokens, grams.unigram.tolist(), strict=True):
        assert seen.setdefault(tok, bucket) == bucket, tok
    assert len(set(seen.values())) == len(seen)  # 2**20 buckets: no collision among these few tokens


def test_long_tokens_differing_inside_get_different_buckets():
    a = "x" * 40 + "a" + "y" * 40
    b = "x" * 40 + "b" + "y" * 40
    c = "x" * 100 + "a" + "y" * 100
    d = "x" * 100 + "b" + "y" * 100
    grams = hashed_ngrams([a, b, c, d, a], 1 << 20)
    assert len(set(grams.unigram[:4].tolist())) == 4
    assert grams.unigram[4] == grams.unigram[0]


def test_batching_does_not_change_features():
    texts = _docs(COOKING, 120, 2) + [""] * 3 + _docs(SPORT, 30, 3)
    whole = hashed_ngrams(texts, 4096)
    per_doc = sum(hashed_ngrams([t], 4096).counts() for t in texts)
    assert np.array_equal(whole.counts(), per_doc)
    chunks = list(text_chunks(_stream(texts, 7)(), chunk_bytes=2000))
    assert [t for c in chunks for t in c.to_pylist()] == texts
    assert len(chunks) > 3


def test_nulls_count_as_empty_texts():
    arr = pa.array(["goal team", None, "oven flour"])
    grams = hashed_ngrams(arr, 1024)
    assert grams.words.tolist() == [2, 0, 2]
    assert grams.counts().sum() == 6


def test_hash_is_stable_across_processes_and_hash_seeds():
    code = (
        "import json; from mixtures.resample.ngrams import hashed_ngrams;"
        "g = hashed_ngrams(['The match ended, 2-1.', 'Bake the dough'], 10000);"
        "print(json.dumps([g.unigram.tolist(), g.bigram.tolist()]))"
    )
    outputs = []
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(REPO)}
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        outputs.append(json.loads(out.stdout))
    assert outputs[0] == outputs[1]
    here = hashed_ngrams(["The match ended, 2-1.", "Bake the dough"], 10000)
    assert outputs[0] == [here.unigram.tolist(), here.bigram.tolist()]


# -- selection -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pool():
    """Raw pool: 300 sport and 300 cooking documents, interleaved; target: cooking."""
    sport, cooking = _docs(SPORT, 300, 10), _docs(COOKING, 300, 11)
    texts, is_target = [], []
    for s, c in zip(sport, cooking, strict=True):
        texts += [s, c]
        is_target += [False, True]
    return texts, np.array(is_target), _docs(COOKING, 80, 12)


def test_dsir_ranks_target_like_documents_first(pool):
    texts, is_target, target = pool
    selection = dsir_select(_stream(texts), [target], 150, seed=0)
    assert len(selection.indices) == 150
    assert is_target[selection.indices].mean() >= 0.95
    ranking = dsir_select(_stream(texts), [target], None, seed=0, measure_kl=False).indices
    top, bottom = ranking[: len(ranking) // 2], ranking[len(ranking) // 2:]
    assert is_target[top].mean() > 0.9 > 0.1 > is_target[bottom].mean()
    assert selection.kl_selected < selection.kl_raw
    assert selection.kl_reduction > 0


def test_kl_reduction_beats_a_random_selection(pool):
    texts, _, target = pool
    selection = dsir_select(_stream(texts), [target], 150, seed=0)
    random_pick = np.random.default_rng(0).choice(len(texts), 150, replace=False)
    mask = np.zeros(len(texts), dtype=bool)
    mask[random_pick] = True
    from mixtures.resample.dsir import StreamFeatures, selected_counts

    random_kl = selection.model.kl_from_target(selected_counts(StreamFeatures(_stream(texts), 10_000), mask))
    assert selection.kl_selected < random_kl


def test_same_seed_same_selection_and_parallel_equals_serial(pool):
    texts, _, target = pool
    a = dsir_select(_stream(texts), [target], 100, seed=7, n_jobs=1)
    b = dsir_select(_stream(texts), [target], 100, seed=7, n_jobs=2)
    c = dsir_select(_stream(texts), [target], 100, seed=8, n_jobs=1)
    assert np.array_equal(a.indices, b.indices)
    assert np.array_equal(a.scores.log_weight, b.scores.log_weight)
    assert a.kl_selected == b.kl_selected
    assert not np.array_equal(a.indices, c.indices)


def test_short_documents_are_excluded_only_by_min_length_and_counted():
    long_sport = _docs(SPORT, 60, 20, lengths=(40, 80))
    short_cooking = _docs(COOKING, 60, 21, lengths=(5, 12))
    texts = long_sport + short_cooking
    target = _docs(COOKING, 40, 22)
    kept = dsir_select(_stream(texts), [target], 30, seed=0, min_length=0)
    assert kept.excluded_short == 0
    assert (kept.indices >= 60).mean() >= 0.9  # short target-like documents are selectable
    filtered = dsir_select(_stream(texts), [target], 30, seed=0, min_length=20)
    assert filtered.excluded_short == 60
    assert (filtered.indices < 60).all()
    assert filtered.summary()["excluded_short"] == 60


def test_selecting_every_eligible_document_works_and_more_is_refused(pool):
    texts, _, target = pool
    everything = dsir_select(_stream(texts), [target], len(texts), seed=0, measure_kl=False)
    assert sorted(everything.indices.tolist()) == list(range(len(texts)))
    with pytest.raises(DsirError, match="only 600 of 600 are eligible"):
        dsir_select(_stream(texts), [target], len(texts) + 1, seed=0, measure_kl=False)


def test_gumbel_top_k_samples_in_proportion_to_weights():
    log_weight = np.log(np.array([1.0, 2.0, 4.0, 8.0]))
    firsts = np.bincount([gumbel_top_k(log_weight, 1, seed=s)[0] for s in range(4000)], minlength=4)
    assert np.allclose(firsts / 4000, np.array([1, 2, 4, 8]) / 15, atol=0.03)
    assert gumbel_top_k(log_weight, 2, noise=False).tolist() == [3, 2]
    eligible = np.array([True, True, False, True])
    assert 2 not in gumbel_top_k(log_weight, None, seed=1, eligible=eligible).tolist()


def test_scores_keep_stream_positions(pool):
    texts, _, target = pool
    model = fit_importance(_stream(texts)(), [target])
    scores = score_documents(model, _stream(texts, 5)())
    single = score_documents(model, [[texts[123]]])
    assert len(scores) == len(texts)
    assert scores.log_weight[123] == pytest.approx(single.log_weight[0])
    assert np.array_equal(ngram_counts([texts]), model.raw_counts)


def test_feature_cache_gives_the_same_selection_as_reading_twice(pool, tmp_path):
    texts, _, target = pool
    reads = []

    def counted():
        reads.append(1)
        return _stream(texts)()

    cached = dsir_select(counted, [target], 100, seed=3, n_jobs=2, cache_dir=tmp_path)
    assert len(reads) == 1  # featurized once, scored and measured from the cache
    assert not list(tmp_path.iterdir())  # the cache is removed afterwards
    uncached = dsir_select(_stream(texts), [target], 100, seed=3, cache_dir=False)
    assert np.array_equal(cached.scores.log_weight, uncached.scores.log_weight)
    assert np.array_equal(cached.indices, uncached.indices)
    assert cached.kl_selected == uncached.kl_selected


def test_feature_cache_widens_its_type_for_many_buckets(pool, tmp_path):
    from mixtures.resample.dsir import FeatureCache, featurize_to_cache

    texts, _, _ = pool
    cache = FeatureCache(tmp_path, 70_000)
    counts = featurize_to_cache([texts[:50]], cache)
    assert cache.dtype is np.uint32
    assert counts.max() and np.array_equal(sum(g.counts() for g in cache.batches()), counts)
