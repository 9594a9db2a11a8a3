"""The tokenizers: BPE trained deterministically on the corpus, the user's tokenizer.json, exact catalog
counts and lossless round trips on the fixture corpus (the demo's domains, offline)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mixtures.config import parse_config
from mixtures.corpus import build_catalog, iter_documents
from mixtures.errors import ConfigError
from mixtures.tokenizers import ByteTokenizer, encode_with_bytes, project_tokenizer, tokenizer_file
from tests.proxy_fixture import CORPUS, DOMAINS, fixture_config

pytest.importorskip("tokenizers")
REPO = Path(__file__).resolve().parents[1]
BPE = {"tokenizer": "bpe", "bpe_vocab_size": 600, "bpe_sample_mb": 0.25, "val_fraction": 0.2}


def bpe_config(root: Path, seed: int = 0, **corpus):
    config = fixture_config(root)
    return config.model_copy(update={"seed": seed, "corpus": config.corpus.model_copy(update={**BPE, **corpus})})


@pytest.fixture(scope="module")
def bpe(tmp_path_factory):
    config = bpe_config(tmp_path_factory.mktemp("bpe"))
    return config, project_tokenizer(config)


_TRAIN = """
import sys
sys.path.insert(0, {repo!r})
from pathlib import Path
from tests.test_tokenizers import bpe_config
from mixtures.tokenizers import tokenizer_file
print(tokenizer_file(bpe_config(Path({root!r}), **{extra!r})))
"""


def _train_in_a_fresh_process(root: Path, **extra) -> bytes:
    """Train in its own interpreter (its own hash seeds and thread pool) and return the file's bytes."""
    code = _TRAIN.format(repo=str(REPO), root=str(root), extra=extra)
    env = {**os.environ, "PYTHONHASHSEED": str(len(str(root)))}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return Path(out.stdout.strip().splitlines()[-1]).read_bytes()


def test_bpe_training_is_deterministic_for_the_same_seed_and_sample(tmp_path):
    first = _train_in_a_fresh_process(tmp_path / "a")
    again = _train_in_a_fresh_process(tmp_path / "b")
    assert first == again  # same vocabulary and merges, byte for byte
    vocab = json.loads(first)["model"]["vocab"]
    assert len(vocab) == 600 and vocab["<|endoftext|>"] == 0
    other_seed = _train_in_a_fresh_process(tmp_path / "c", seed=1, bpe_sample_mb=0.05)
    smaller = _train_in_a_fresh_process(tmp_path / "d", bpe_sample_mb=0.05)
    assert other_seed != smaller != first  # another sample (seed or size), another vocabulary


def test_bpe_file_is_stored_by_its_sample_hash_and_reused(bpe):
    config, tokenizer = bpe
    path = tokenizer_file(config)
    assert path.parent == config.root / "tokenizers" and path.name.startswith("bpe-") and path.suffix == ".json"
    mtime = path.stat().st_mtime_ns
    assert project_tokenizer(config).fingerprint == tokenizer.fingerprint
    assert path.stat().st_mtime_ns == mtime  # found again, not retrained
    assert tokenizer.vocab_size == 600 and tokenizer.eod_id == 0 and tokenizer.name == "bpe"


@pytest.mark.parametrize("kind", ["bpe", "bytes"])
def test_encode_decode_round_trips_on_every_domain_with_exact_byte_counts(bpe, kind):
    config, trained = bpe
    tokenizer = trained if kind == "bpe" else ByteTokenizer()
    names = [d["name"] for d in DOMAINS] + ["docs"]
    for name in names:
        texts = [doc.text for doc in iter_documents(config, name)]
        texts.append("a literal <|endoftext|> stays text; naïve café ∑ 🤗")
        for text, (ids, counts) in zip(texts, encode_with_bytes(tokenizer, texts), strict=True):
            assert tokenizer.decode(ids) == text, name
            assert int(counts.sum()) == len(text.encode("utf-8")), name
            assert tokenizer.eod_id not in set(np.asarray(ids).tolist()), name


def test_catalog_token_counts_under_bpe_are_each_domains_exact_encoded_length(bpe):
    config, tokenizer = bpe
    catalog = build_catalog(config).set_index("domain")
    from mixtures.corpus import split_of

    for name in catalog.index:
        counts = {"train": 0, "val": 0}
        for doc in iter_documents(config, name):
            counts[split_of(doc.doc_id, config.corpus.val_fraction)] += len(tokenizer.encode_batch([doc.text])[0])
        row = catalog.loc[name]
        assert (row["train_tokens"], row["val_tokens"]) == (counts["train"], counts["val"]), name
        assert row["tokens"] == counts["train"] + counts["val"] < row["bytes"]  # BPE tokens are fewer than bytes


def _hf_config(root: Path, path: str, **hf):
    data = {"project": "hf", "domains": DOMAINS[:2], "corpus": {"tokenizer": {"hf": {"path": path, **hf}},
                                                                 "val_fraction": 0.2},
            "storage": {"root": str(root / ".mixtures")}}
    return parse_config(data, source=str(root / "project.yaml"), base_dir=root)


def test_an_hf_tokenizer_file_by_path_works_and_a_missing_or_corrupt_one_is_refused_by_name(bpe, tmp_path):
    config, trained = bpe
    import shutil

    for name in DOMAINS[:2]:  # the domains, beside the user's tokenizer file
        shutil.copytree(CORPUS / name["paths"][0], tmp_path / name["paths"][0])
    shutil.copy(tokenizer_file(config), tmp_path / "my-tokenizer.json")
    user = _hf_config(tmp_path, "my-tokenizer.json")
    tokenizer = project_tokenizer(user)
    assert tokenizer.name == "hf" and tokenizer.path == tmp_path / "my-tokenizer.json"
    text = next(iter_documents(user, "literature")).text
    assert tokenizer.encode_batch([text])[0].tolist() == trained.encode_batch([text])[0].tolist()
    assert build_catalog(user).set_index("domain").loc["literature", "tokens"] > 0

    with pytest.raises(ConfigError, match=r"corpus\.tokenizer\.hf\.path: tokenizer file .*missing\.json does not exist"):
        project_tokenizer(_hf_config(tmp_path, "missing.json"))
    (tmp_path / "broken.json").write_text('{"model": {"type": "BPE", "vocab": ')
    with pytest.raises(ConfigError, match=r"corpus\.tokenizer\.hf\.path: .*broken\.json is not a readable tokenizer"):
        project_tokenizer(_hf_config(tmp_path, "broken.json"))
    with pytest.raises(ConfigError, match=r"eod_token: '<nope>' is not in the vocabulary"):
        project_tokenizer(_hf_config(tmp_path, "my-tokenizer.json", eod_token="<nope>"))


def test_unknown_tokenizer_names_are_refused_at_config_load(tmp_path):
    base = {"domains": [{"name": "a", "paths": ["a"]}]}
    with pytest.raises(ConfigError, match=r"unknown tokenizer 'bep'.*did you mean 'bpe'"):
        parse_config({**base, "corpus": {"tokenizer": "bep"}}, base_dir=tmp_path)
    with pytest.raises(ConfigError, match=r"hf tokenizer needs its file"):
        parse_config({**base, "corpus": {"tokenizer": "hf"}}, base_dir=tmp_path)
