"""The nightly export: every partition that settled since the previous night, one run each."""

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from dagster import (
    DagsterInvalidDefinitionError,
    DefaultScheduleStatus,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    TimeWindow,
    TimeWindowPartitionsDefinition,
    schedule,
)

from pipelines.export.spec import ExportConfigError, ExportSpec, ScheduleConfig
from pipelines.orchestration.assets import REASON_TAG

if TYPE_CHECKING:
    # What `define_asset_job` returns; Dagster does not export the name publicly.
    from dagster._core.definitions.unresolved_asset_job_definition import (
        UnresolvedAssetJobDefinition,
    )


def newly_settled_keys(
    partitions_def: TimeWindowPartitionsDefinition, now: datetime, settle_delay: timedelta
) -> list[str]:
    """Keys of the partitions that settled during the day before `now`.

    A partition has settled `settle_delay` after its window ends. Asking for those whose
    settle moment lies in `(now - 1 day, now]` requests every partition exactly once across
    nightly ticks: at the default 00:30 with a 1 hour delay, hours 00-22 of yesterday and
    hour 23 of the day before (which had not settled at the previous tick). The run key
    keeps a repeated or extra tick from asking twice.
    """
    now = now.astimezone(UTC)
    first_end = now - timedelta(days=1) - settle_delay
    last_end = now - settle_delay
    # Windows ending in (first_end, last_end] started at most one partition before that.
    candidates = partitions_def.get_partition_keys_in_time_window(
        TimeWindow(first_end - timedelta(days=1), last_end)
    )
    existing = set(partitions_def.get_partition_keys(current_time=now))
    return [
        key
        for key in candidates
        if key in existing
        and first_end < partitions_def.time_window_for_partition_key(key).end <= last_end
    ]


def build_nightly_schedule(
    spec: ExportSpec,
    partitions_def: TimeWindowPartitionsDefinition,
    job: "UnresolvedAssetJobDefinition",
    config: ScheduleConfig,
) -> ScheduleDefinition:
    def nightly(context: ScheduleEvaluationContext) -> list[RunRequest]:
        now = context.scheduled_execution_time or datetime.now(UTC)
        keys = newly_settled_keys(partitions_def, now, spec.effective_settle_delay)
        return [
            RunRequest(
                run_key=f"{spec.name}:{key}", partition_key=key, tags={REASON_TAG: "nightly"}
            )
            for key in keys
        ]

    decorate = schedule(
        name=f"{spec.name}_nightly",
        cron_schedule=config.cron,
        execution_timezone="UTC",
        job=job,
        default_status=(
            DefaultScheduleStatus.RUNNING if config.enabled else DefaultScheduleStatus.STOPPED
        ),
        description=f"Exports the partitions of {spec.name!r} that settled in the last day (UTC).",
    )
    try:
        return decorate(nightly)
    except DagsterInvalidDefinitionError as exc:
        # Five fields can still hold values Dagster refuses (a minute of 61, February 30).
        raise ExportConfigError(
            f"schedule.cron: {config.cron!r} is not a cron schedule Dagster accepts: {exc}"
        ) from exc
