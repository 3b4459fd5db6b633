"""The nightly export of the previous UTC day, one run per settled partition."""

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from dagster import (
    DefaultScheduleStatus,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    TimeWindow,
    TimeWindowPartitionsDefinition,
    schedule,
)

from pipelines.export.spec import ExportSpec, ScheduleConfig
from pipelines.orchestration.assets import REASON_TAG

if TYPE_CHECKING:
    # What `define_asset_job` returns; Dagster does not export the name publicly.
    from dagster._core.definitions.unresolved_asset_job_definition import (
        UnresolvedAssetJobDefinition,
    )


def previous_day_keys(
    partitions_def: TimeWindowPartitionsDefinition, now: datetime, settle_delay: timedelta
) -> list[str]:
    """Keys of the UTC day before `now`'s day whose windows ended `settle_delay` ago.

    Partitions not yet settled at the nightly tick (with the defaults, 23:00-24:00) are left
    to the reconciliation sensor, which exports any settled partition that is missing.
    """
    today = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    yesterday = today - timedelta(days=1)
    keys = partitions_def.get_partition_keys_in_time_window(TimeWindow(yesterday, today))
    valid = set(partitions_def.get_partition_keys(current_time=now))
    return [
        key
        for key in keys
        # Days before the export's start date have no partitions to ask for.
        if key in valid
        and partitions_def.time_window_for_partition_key(key).end + settle_delay <= now
    ]


def build_nightly_schedule(
    spec: ExportSpec,
    partitions_def: TimeWindowPartitionsDefinition,
    job: "UnresolvedAssetJobDefinition",
    config: ScheduleConfig,
) -> ScheduleDefinition:
    @schedule(
        name=f"{spec.name}_nightly",
        cron_schedule=config.cron,
        execution_timezone="UTC",
        job=job,
        default_status=(
            DefaultScheduleStatus.RUNNING if config.enabled else DefaultScheduleStatus.STOPPED
        ),
        description=f"Exports yesterday's (UTC) settled partitions of {spec.name!r}.",
    )
    def nightly(context: ScheduleEvaluationContext) -> list[RunRequest]:
        now = context.scheduled_execution_time or datetime.now(UTC)
        keys = previous_day_keys(partitions_def, now, spec.effective_settle_delay)
        return [
            RunRequest(
                run_key=f"{spec.name}:{key}", partition_key=key, tags={REASON_TAG: "nightly"}
            )
            for key in keys
        ]

    return nightly
