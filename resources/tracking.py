"""MLflow tracking as a Dagster resource: one MLflow run per asset materialization."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import dagster as dg

from mixtures.config import ProjectConfig
from mixtures.tracking import RunLogger, Tracker


class MlflowTracking(dg.ConfigurableResource):
    """Where runs are logged. Empty fields fall back to the project config's ``tracking`` section
    (and ``MLFLOW_TRACKING_URI``), so the same code serves the embedded sqlite store and a team server."""

    tracking_uri: str = ""
    experiment: str = ""

    def tracker(self, config: ProjectConfig) -> Tracker:
        return Tracker(self.tracking_uri or config.tracking_uri, self.experiment or config.tracking.experiment)

    @contextmanager
    def run(
        self,
        context: dg.AssetExecutionContext,
        name: str,
        config: ProjectConfig,
        tags: dict[str, Any] | None = None,
    ) -> Iterator[RunLogger]:
        """An MLflow run for this materialization, nested under the pipeline's run and tagged with
        the Dagster run id, the asset and (if any) the partition."""
        tracker = self.tracker(config)
        pipeline = {"mixtures.pipeline": config.fingerprint(), "mixtures.role": "pipeline"}
        with tracker.parent_run(f"pipeline {config.project} {config.fingerprint()}", pipeline) as parent:
            parent_id = parent.run_id
        all_tags = {
            "dagster.run_id": context.run.run_id,
            "dagster.asset": context.asset_key.to_user_string(),
            "mixtures.pipeline": config.fingerprint(),
            "mixtures.project": config.project,
            **({"dagster.partition": context.partition_key} if context.has_partition_key else {}),
            **(tags or {}),
        }
        with tracker.run(name, tags=all_tags, parent_run_id=parent_id) as run:
            yield run
