"""The reconciliation sensor: re-export recent event-time partitions that gained rows."""

import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING

from dagster import (
    AssetObservation,
    DagsterRunStatus,
    DefaultSensorStatus,
    RunRequest,
    RunsFilter,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    TimeWindowPartitionsDefinition,
    sensor,
)

from pipelines.export.reconcile import PartitionState, partition_states
from pipelines.export.spec import ExportSpec, ReconciliationConfig
from pipelines.export.window import iso_utc, utc_now
from pipelines.orchestration.assets import REASON_TAG
from pipelines.orchestration.resources import LogfireQueryResource, ParquetStorageResource
from pipelines.query_api import LogfireQueryError
from pipelines.storage.partitions import StorageError

if TYPE_CHECKING:
    # What `define_asset_job` returns; Dagster does not export the name publicly.
    from dagster._core.definitions.unresolved_asset_job_definition import (
        UnresolvedAssetJobDefinition,
    )

SENSOR_NAME = "reconcile_recent_partitions"
RECONCILE_REASON = "reconcile"
PARTITION_TAG = "dagster/partition"
IN_FLIGHT = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
]
# More runs than this in flight for one export means a backlog; the sensor only needs to
# avoid doubling the partitions in it.
MAX_IN_FLIGHT_LOOKUP = 1000


class ReconciliationError(RuntimeError):
    """Every export's reconciliation failed in this tick."""


def build_reconciliation_sensor(
    specs: Mapping[str, ExportSpec],
    partitions: Mapping[str, TimeWindowPartitionsDefinition],
    jobs: Mapping[str, "UnresolvedAssetJobDefinition"],
    config: ReconciliationConfig,
    *,
    clock: Callable[[], datetime] = utc_now,
) -> SensorDefinition:
    """One sensor for every event-time export (ingest-time exports never need it)."""

    @sensor(
        name=SENSOR_NAME,
        jobs=list(jobs.values()),
        minimum_interval_seconds=config.interval_minutes * 60,
        default_status=(
            DefaultSensorStatus.RUNNING if config.enabled else DefaultSensorStatus.STOPPED
        ),
        description=(
            f"Every {config.interval_minutes} min, compares the server's row counts for the "
            f"last {config.lookback_days} days with the exported partitions and re-exports "
            "those that drifted (late spans), at most "
            f"{config.max_partitions_per_tick} per tick."
        ),
    )
    def reconcile(
        context: SensorEvaluationContext,
        logfire: LogfireQueryResource,
        storage: ParquetStorageResource,
    ) -> SensorResult:
        now = clock()
        store = storage.store()
        # What each partition looked like at the previous tick: only changes (and drift) are
        # recorded as observations, or the hourly ticks would bury the materializations.
        seen: dict[str, list[int | None]] = json.loads(context.cursor or "{}")
        current: dict[str, list[int | None]] = {}
        requests: list[RunRequest] = []
        observations: list[AssetObservation] = []
        failures: list[str] = []
        drifted = 0
        with logfire.client() as client:
            for name, spec in specs.items():
                try:
                    states = partition_states(client, store, spec, now, config.lookback_days)
                except (LogfireQueryError, StorageError) as exc:
                    # One broken export (a bad filter, say) must not stop the others.
                    failures.append(f"export {name!r}: {exc}")
                    context.log.error("reconciliation of export %r failed: %s", name, exc)
                    continue
                in_flight = _partitions_in_flight(context, jobs[name].name)
                for state in states:
                    key = partitions[name].get_partition_key_for_timestamp(
                        state.window.start.timestamp()
                    )
                    counts = [state.server_rows, state.exported_rows]
                    current[f"{name}/{key}"] = counts
                    if state.drifted or seen.get(f"{name}/{key}") != counts:
                        observations.append(_observation(name, key, state, now))
                    if not state.drifted:
                        continue
                    drifted += 1
                    if not state.needs_export:
                        continue
                    # A queued or running export of the partition will bring it up to date.
                    if key not in in_flight and len(requests) < config.max_partitions_per_tick:
                        requests.append(_request(jobs[name].name, key))
        if failures and len(failures) == len(specs):
            raise ReconciliationError("; ".join(failures))
        context.log.info(
            "reconciliation: %d partitions drifted, %d re-exports requested",
            drifted,
            len(requests),
        )
        return SensorResult(
            run_requests=requests, asset_events=observations, cursor=json.dumps(current)
        )

    return reconcile


def _observation(export: str, key: str, state: PartitionState, now: datetime) -> AssetObservation:
    return AssetObservation(
        asset_key=export,
        partition=key,
        metadata={
            "reconciled_at": iso_utc(now),
            "server_rows": state.server_rows,
            "exported_rows": -1 if state.exported_rows is None else state.exported_rows,
            "missing_rows": state.missing_rows,
            "drifted": state.drifted,
        },
    )


def _request(job: str, key: str) -> RunRequest:
    # No run key: Dagster would never repeat a keyed request, not even after its run failed.
    # Partitions with a run in flight are skipped instead.
    return RunRequest(job_name=job, partition_key=key, tags={REASON_TAG: RECONCILE_REASON})


def _partitions_in_flight(context: SensorEvaluationContext, job: str) -> set[str]:
    """Partition keys of the job's runs that are queued or running."""
    runs = context.instance.get_runs(
        RunsFilter(job_name=job, statuses=IN_FLIGHT), limit=MAX_IN_FLIGHT_LOOKUP
    )
    return {run.tags[PARTITION_TAG] for run in runs if PARTITION_TAG in run.tags}
