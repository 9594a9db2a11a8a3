"""Features of the samples a data provider reveals: each domain (and each target) as a small weighted point
cloud in a shared feature space, what the OT law (:mod:`mixtures.laws.ot`) measures distances between.

A document's features are its hashed unigram and bigram counts (:func:`mixtures.resample.ngrams.hashed_ngrams`,
the DSIR features), as term frequencies; a seeded :class:`~sklearn.decomposition.TruncatedSVD` fitted on every
revealed document maps them to ``dims`` dimensions, and a seeded :class:`~sklearn.cluster.KMeans` summarises
each domain's documents by ``support`` centroids weighted by their cluster's share of the documents.
:class:`RevealedFeatures` saves as one ``.npz`` file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mixtures.errors import TableError

DEFAULT_BUCKETS = 4096
DEFAULT_DIMS = 32
DEFAULT_SUPPORT = 16


@dataclass(frozen=True)
class PointCloud:
    """``points`` (n, dims) with probability ``masses`` (n,) summing to 1."""

    points: np.ndarray
    masses: np.ndarray


@dataclass(frozen=True)
class RevealedFeatures:
    """The training domains' clouds (in the run table's ``w_`` column order) and the targets' clouds."""

    domains: dict[str, PointCloud]
    targets: dict[str, PointCloud]

    def save(self, path: str | Path) -> None:
        arrays = {"domain_names": np.array(list(self.domains)), "target_names": np.array(list(self.targets))}
        for kind, clouds in (("domain", self.domains), ("target", self.targets)):
            for i, cloud in enumerate(clouds.values()):
                arrays[f"{kind}{i}_points"] = cloud.points
                arrays[f"{kind}{i}_masses"] = cloud.masses
        with open(path, "wb") as handle:
            np.savez(handle, **arrays)

    @classmethod
    def load(cls, path: str | Path) -> RevealedFeatures:
        path = Path(path)
        if not path.is_file():
            raise TableError(f"{path}: no revealed-features file; write one with "
                             "mixtures.laws.revealed.revealed_features(...).save(path).")
        with np.load(path, allow_pickle=False) as data:
            def clouds(kind):
                return {str(name): PointCloud(data[f"{kind}{i}_points"], data[f"{kind}{i}_masses"])
                        for i, name in enumerate(data[f"{kind}_names"])}
            return cls(clouds("domain"), clouds("target"))


def document_features(texts: Sequence[str], buckets: int = DEFAULT_BUCKETS):
    """Per-document hashed n-gram term frequencies, a sparse ``(len(texts), buckets)`` matrix."""
    from scipy.sparse import csr_matrix

    from mixtures.resample.ngrams import hashed_ngrams

    grams = hashed_ngrams(list(texts), buckets)
    n = len(grams)
    pairs = grams.bigram < buckets  # the pair that spans two texts has the unused bucket
    rows = np.concatenate([grams.token_doc, grams.token_doc[:-1][pairs]])
    cols = np.concatenate([grams.unigram, grams.bigram[pairs]])
    counts = csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, buckets))
    totals = np.maximum(np.asarray(counts.sum(axis=1)).ravel(), 1.0)
    return csr_matrix(counts.multiply(1.0 / totals[:, None]))


def revealed_features(domains: Mapping[str, Sequence[str]], targets: Mapping[str, Sequence[str]], *,
                      buckets: int = DEFAULT_BUCKETS, dims: int = DEFAULT_DIMS, support: int = DEFAULT_SUPPORT,
                      seed: int = 0) -> RevealedFeatures:
    """Point clouds of the revealed documents of each domain and target (module docstring).

    ``domains`` and ``targets`` map a name to its revealed texts; every one needs at least one text.
    """
    from scipy.sparse import vstack
    from sklearn.cluster import KMeans
    from sklearn.decomposition import TruncatedSVD

    groups = {**{("d", k): v for k, v in domains.items()}, **{("t", k): v for k, v in targets.items()}}
    empty = [name for (_, name), texts in groups.items() if len(texts) == 0]
    if empty:
        raise TableError(f"revealed features: no revealed documents for {empty}; reveal at least one each.")
    matrices = {key: document_features(texts, buckets) for key, texts in groups.items()}
    stacked = vstack(list(matrices.values()))
    n_components = int(min(dims, stacked.shape[0] - 1, buckets - 1))
    svd = TruncatedSVD(n_components=max(n_components, 1), random_state=seed).fit(stacked)
    clouds = {}
    for key, matrix in matrices.items():
        z = svd.transform(matrix)
        k = int(min(support, len(np.unique(z.round(12), axis=0))))
        km = KMeans(n_clusters=k, n_init=4, random_state=seed).fit(z)
        masses = np.bincount(km.labels_, minlength=k).astype(np.float64)
        clouds[key] = PointCloud(km.cluster_centers_, masses / masses.sum())
    return RevealedFeatures({n: c for (kind, n), c in clouds.items() if kind == "d"},
                            {n: c for (kind, n), c in clouds.items() if kind == "t"})


def project_revealed_features(config, *, buckets: int = DEFAULT_BUCKETS, dims: int = DEFAULT_DIMS,
                              support: int = DEFAULT_SUPPORT) -> RevealedFeatures:
    """The revealed features of a project: each training domain's revealed training documents, and as
    targets each training domain's revealed validation documents (the target of ``loss_<domain>``) and each
    target set's revealed documents (``loss_<set>``); ``revealed`` of each domain or set says how many."""
    from mixtures.corpus.revealed import revealed_texts

    domains = {d.name: revealed_texts(config, d.name, "train") for d in config.domains}
    targets = {d.name: revealed_texts(config, d.name, "val") for d in config.domains}
    targets.update({t.name: revealed_texts(config, t.name) for t in config.target.sets})
    return revealed_features(domains, targets, buckets=buckets, dims=dims, support=support, seed=config.seed)
