"""Mixture reuse when the corpus changes (Olmix's): detect the change from the catalogs' fingerprints, freeze the
unaffected domains' ratios as one virtual domain, swarm over it and the changed domains, refit, re-optimize,
expand back to every domain.

| module | what |
| --- | --- |
| :mod:`mixtures.reuse.change` | :func:`detect_change`: domains added, removed, revised (``content_sha256``) |
| :mod:`mixtures.reuse.plan` | :func:`plan_reuse`, :class:`ReusePlan` (expand / reduce / component table), :func:`swarm_size`, :func:`reuse_swarm` |
| :mod:`mixtures.reuse.refit` | :func:`reoptimize`: the law over the components, its optimum, expanded |
| :mod:`mixtures.reuse.decide` | :func:`decide`: whether a pipeline reuses (``reuse: auto / never / always``), and its run specs |
"""

from mixtures.lazy import lazy_exports

_EXPORTS = {
    "CorpusChange": "change", "detect_change": "change", "VIRTUAL": "plan", "ReusePlan": "plan", "plan_reuse": "plan",
    "reuse_swarm": "plan", "swarm_size": "plan", "caps_from_tokens": "plan", "ReuseResult": "refit",
    "reoptimize": "refit",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)  # the refit (scikit-learn) loads when it is used
