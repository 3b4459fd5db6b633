"""The reconciliation sensor: re-export recent event-time partitions that gained rows."""

import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING

from dagster import (
    AssetObservation,
    DefaultSensorStatus,
    RunRequest,
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

if TYPE_CHECKING:
    # What `define_asset_job` returns; Dagster does not export the name publicly.
    from dagster._core.definitions.unresolved_asset_job_definition import (
        UnresolvedAssetJobDefinition,
    )

SENSOR_NAME = "reconcile_recent_partitions"
RECONCILE_REASON = "reconcile"


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
        drifted = 0
        with logfire.client() as client:
            for name, spec in specs.items():
                states = partition_states(client, store, spec, now, config.lookback_days)
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
                    if len(requests) < config.max_partitions_per_tick:
                        requests.append(_request(name, jobs[name].name, key, state))
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


def _request(export: str, job: str, key: str, state: PartitionState) -> RunRequest:
    return RunRequest(
        job_name=job,
        partition_key=key,
        # The same drift is requested once; a later change in the count asks again.
        run_key=f"{RECONCILE_REASON}:{export}:{key}:{state.server_rows}",
        tags={REASON_TAG: RECONCILE_REASON},
    )
