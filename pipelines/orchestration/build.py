"""Assembling the Dagster definitions from the exports configuration."""

from collections.abc import Callable
from datetime import datetime

from dagster import Definitions, TimeWindowPartitionsDefinition, define_asset_job

from pipelines.export.spec import ExportsConfig
from pipelines.export.window import utc_now
from pipelines.orchestration.assets import build_export_asset, partitions_for
from pipelines.orchestration.local_runs import job_name
from pipelines.orchestration.maintenance import build_delta_vacuum
from pipelines.orchestration.resources import LogfireQueryResource, ParquetStorageResource
from pipelines.orchestration.schedules import build_nightly_schedule
from pipelines.orchestration.sensors import build_reconciliation_sensor


def build_definitions(
    config: ExportsConfig,
    *,
    logfire: LogfireQueryResource | None = None,
    storage: ParquetStorageResource | None = None,
    end_offset: int = 0,
    clock: Callable[[], datetime] = utc_now,
) -> Definitions:
    """Assets, jobs, schedules, the reconciliation sensor and resources for every export,
    and the Delta vacuum job if any export writes Delta.

    `end_offset=1` also offers the running (still open) partition; only the demo uses it.
    `clock` is the reconciliation sensor's idea of now (tests pin it).
    """
    partitions: dict[str, TimeWindowPartitionsDefinition] = {
        name: partitions_for(spec, end_offset=end_offset) for name, spec in config.exports.items()
    }
    assets = {
        name: build_export_asset(spec, partitions[name]) for name, spec in config.exports.items()
    }
    jobs = {
        name: define_asset_job(job_name(name), selection=[asset]) for name, asset in assets.items()
    }
    schedules = [
        build_nightly_schedule(spec, partitions[name], jobs[name], config.schedule)
        for name, spec in config.exports.items()
    ]
    # Ingest-time exports are append-only and exact: they never need reconciling.
    event_time = {name: spec for name, spec in config.exports.items() if not spec.ingest_time}
    sensors = []
    if event_time:
        sensors.append(
            build_reconciliation_sensor(
                event_time,
                {name: partitions[name] for name in event_time},
                {name: jobs[name] for name in event_time},
                config.reconciliation,
                clock=clock,
            )
        )
    maintenance = []
    if any(spec.format == "delta" for spec in config.exports.values()):
        vacuum_job, vacuum_schedule = build_delta_vacuum(config.exports, config.delta_vacuum)
        maintenance.append(vacuum_job)
        schedules.append(vacuum_schedule)
    return Definitions(
        assets=list(assets.values()),
        jobs=[*jobs.values(), *maintenance],
        schedules=schedules,
        sensors=sensors,
        resources={
            "logfire": logfire or LogfireQueryResource(),
            "storage": storage or ParquetStorageResource(),
        },
    )
