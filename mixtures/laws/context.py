"""What a project gives the law families beyond the run table (their ``context_params``).

- ``features``: the revealed features of the ``ot`` law (:func:`mixtures.laws.revealed.project_revealed_features`),
  written to ``<storage.root>/revealed_features.npz``, when any domain or target set sets ``revealed``
  (then ``auto`` includes ``ot``);
- ``unique_tokens``: each training domain's unique tokens (the catalog's ``train_tokens``) for the
  ``repetition`` law, when ``laws.law`` is ``repetition`` or ``proxy.repeat_runs`` is set (then ``auto`` includes
  it; without repeated runs the design repeats no domain, so its R* would be the published prior).
"""

from __future__ import annotations

import pandas as pd

from mixtures.config import ProjectConfig
from mixtures.layout import REVEALED_FEATURES, project_file


def law_context(config: ProjectConfig, catalog: pd.DataFrame) -> dict:
    """The ``context`` of :func:`mixtures.laws.fit_law` for this project (module docstring)."""
    context: dict = {}
    if config.laws.law == "repetition" or config.proxy.repeat_runs is not None:
        tokens = catalog.set_index("domain")["train_tokens"]
        context["unique_tokens"] = tuple(float(tokens[d.name]) for d in config.domains)
    if any(s.revealed is not None for s in [*config.domains, *config.target.sets]):
        from mixtures.laws.revealed import project_revealed_features

        path = project_file(config, REVEALED_FEATURES)
        path.parent.mkdir(parents=True, exist_ok=True)
        project_revealed_features(config).save(path)
        context["features"] = str(path)
    return context
