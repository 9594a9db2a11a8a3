"""The Dagster code location of mixtures: assets, checks, sensors, schedules and jobs.

Thin by design: each asset calls into ``mixtures`` and records what happened.
"""

from __future__ import annotations

import dagster as dg

from assets.corpus import domain_catalog
from assets.dataset import dataset_domains, dataset_plan, mixed_dataset
from assets.jobs import JOBS
from assets.laws import mixing_laws
from assets.online import method_comparison
from assets.optimize import optimal_mixture
from assets.proxies import proxy_design, proxy_results, proxy_runs
from assets.report import mixture_report
from assets.sensors import SCHEDULES, SENSORS
from assets.validation import validation_runs
from resources import resources_for_env

ASSETS = [domain_catalog, proxy_design, proxy_runs, proxy_results, mixing_laws, optimal_mixture,
          validation_runs, dataset_plan, dataset_domains, mixed_dataset, mixture_report, method_comparison]

defs = dg.Definitions(
    assets=ASSETS,
    jobs=JOBS,
    sensors=SENSORS,
    schedules=SCHEDULES,
    resources=resources_for_env(),
)
