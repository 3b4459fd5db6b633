"""The nightly export of the previous UTC day, one run per partition."""

from datetime import UTC, datetime, timedelta

from dagster import (
    AssetsDefinition,
    DefaultScheduleStatus,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    TimeWindow,
    TimeWindowPartitionsDefinition,
    define_asset_job,
    schedule,
)

from pipelines.export.spec import ExportSpec, ScheduleConfig
from pipelines.orchestration.local_runs import job_name


def previous_day_keys(partitions_def: TimeWindowPartitionsDefinition, now: datetime) -> list[str]:
    """The partition keys whose windows lie in the UTC day before `now`'s day."""
    today = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    yesterday = today - timedelta(days=1)
    keys = partitions_def.get_partition_keys_in_time_window(TimeWindow(yesterday, today))
    valid = set(partitions_def.get_partition_keys(current_time=now))
    # Days before the export's start date have no partitions to ask for.
    return [key for key in keys if key in valid]


def build_nightly_schedule(
    spec: ExportSpec, export_asset: AssetsDefinition, config: ScheduleConfig
) -> ScheduleDefinition:
    partitions_def = export_asset.partitions_def
    assert isinstance(partitions_def, TimeWindowPartitionsDefinition)
    job = define_asset_job(job_name(spec.name), selection=[export_asset])

    @schedule(
        name=f"{spec.name}_nightly",
        cron_schedule=config.cron,
        execution_timezone="UTC",
        job=job,
        default_status=(
            DefaultScheduleStatus.RUNNING if config.enabled else DefaultScheduleStatus.STOPPED
        ),
        description=f"Exports yesterday's (UTC) partitions of {spec.name!r} every night.",
    )
    def nightly(context: ScheduleEvaluationContext) -> list[RunRequest]:
        now = context.scheduled_execution_time or datetime.now(UTC)
        return [
            RunRequest(run_key=f"{spec.name}:{key}", partition_key=key)
            for key in previous_day_keys(partitions_def, now)
        ]

    return nightly
