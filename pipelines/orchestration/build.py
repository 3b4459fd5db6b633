"""Assembling the Dagster definitions from the exports configuration."""

from dagster import Definitions

from pipelines.export.spec import ExportsConfig
from pipelines.orchestration.assets import build_export_asset
from pipelines.orchestration.resources import LogfireQueryResource, ParquetStorageResource
from pipelines.orchestration.schedules import build_nightly_schedule


def build_definitions(
    config: ExportsConfig,
    *,
    logfire: LogfireQueryResource | None = None,
    storage: ParquetStorageResource | None = None,
    end_offset: int = 0,
) -> Definitions:
    """Assets, schedules and resources for every declared export.

    `end_offset=1` also offers the running (still open) partition; only the demo uses it.
    """
    assets = {
        name: build_export_asset(spec, end_offset=end_offset)
        for name, spec in config.exports.items()
    }
    schedules = [
        build_nightly_schedule(config.exports[name], asset_def, config.schedule)
        for name, asset_def in assets.items()
    ]
    return Definitions(
        assets=list(assets.values()),
        schedules=schedules,
        resources={
            "logfire": logfire or LogfireQueryResource(),
            "storage": storage or ParquetStorageResource(),
        },
    )
