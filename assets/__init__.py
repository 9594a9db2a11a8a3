"""The Dagster code location of mixtures: assets, checks, sensors, schedules and jobs.

Thin by design: each asset calls into ``mixtures`` and records what happened. ``MIXTURES_SENSORS=off``
(set by ``mixtures run`` for the daemon it starts) leaves the sensors and schedules out: a pipeline
that drives itself must not have a sensor add work meanwhile.
"""

from __future__ import annotations

import os

import dagster as dg

from assets.corpus import domain_catalog
from assets.dataset import dataset_domains, dataset_plan, mixed_dataset
from assets.jobs import JOBS
from assets.laws import mixing_laws
from assets.online import method_comparison, method_design, online_design, online_runs
from assets.optimize import optimal_mixture
from assets.proxies import proxy_design, proxy_results, proxy_runs
from assets.report import mixture_report
from assets.sensors import SCHEDULES, SENSORS
from assets.validation import validation_design, validation_runs, validation_verdict
from resources import resources_for_env

ASSETS = [domain_catalog, proxy_design, proxy_runs, proxy_results, mixing_laws, optimal_mixture, validation_design,
          validation_runs, validation_verdict, dataset_plan, dataset_domains, mixed_dataset, mixture_report,
          online_design, online_runs, method_design, method_comparison]
WATCHING = os.environ.get("MIXTURES_SENSORS", "on") != "off"

defs = dg.Definitions(
    assets=ASSETS,
    jobs=JOBS,
    sensors=SENSORS if WATCHING else [],
    schedules=SCHEDULES if WATCHING else [],
    resources=resources_for_env(),
)
