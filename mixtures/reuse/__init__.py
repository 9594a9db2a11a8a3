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

from mixtures.reuse.change import CorpusChange, detect_change
from mixtures.reuse.plan import VIRTUAL, ReusePlan, caps_from_tokens, plan_reuse, reuse_swarm, swarm_size
from mixtures.reuse.refit import ReuseResult, reoptimize

__all__ = ["CorpusChange", "detect_change", "VIRTUAL", "ReusePlan", "plan_reuse", "reuse_swarm", "swarm_size",
           "caps_from_tokens", "ReuseResult", "reoptimize"]
