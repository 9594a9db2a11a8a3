"""The Dagster code location of mixtures: assets, checks, sensors, schedules and jobs.

Thin by design: each asset calls into ``mixtures`` and records what happened.
"""

from __future__ import annotations

import dagster as dg

from assets.corpus import domain_catalog
from assets.jobs import JOBS
from resources import resources_for_env

defs = dg.Definitions(
    assets=[domain_catalog],
    jobs=JOBS,
    resources=resources_for_env(),
)
