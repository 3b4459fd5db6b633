"""Late data end to end: event-time exports converge through reconciliation, ingest-time
exports are exact without it. Everything runs on fixed past days with pinned clocks."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.dataset as ds
import pytest
from dagster import (
    DagsterInstance,
    DagsterRunStatus,
    Definitions,
    SensorResult,
    build_sensor_context,
)
from dagster._core.test_utils import create_run_for_test  # Dagster's own test helper

from pipelines.export.runner import partition_values
from pipelines.export.spec import ExportsConfig, parse_exports
from pipelines.export.window import TimeWindow, sql_timestamp
from pipelines.orchestration.build import build_definitions
from pipelines.orchestration.local_runs import materialize_partition
from pipelines.orchestration.resources import LogfireQueryResource, ParquetStorageResource
from pipelines.orchestration.sensors import SENSOR_NAME
from pipelines.server.runner import LocalLogfireServer
from pipelines.server.synthetic import generate_records
from pipelines.storage.partitions import PartitionStore
from tests.orchestration.metadata import int_entry, text_entry

DAY = datetime(2026, 11, 20, tzinfo=UTC)
HOUR = timedelta(hours=1)
KEY = ["trace_id", "span_id", "kind", "start_timestamp"]


class Clock:
    """A settable clock shared by the server (what is visible) and the sensor (what is due)."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock(server: LocalLogfireServer) -> Iterator[Clock]:
    clock = Clock(DAY + timedelta(days=1, hours=2))
    real = server.store.clock
    server.store.clock = clock
    yield clock
    # The server outlives the test (and `reset` keeps the clock): later tests need real time.
    server.store.clock = real


@pytest.fixture(autouse=True)
def token(server: LocalLogfireServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOGFIRE_READ_TOKEN", server.read_token)


def late_rows(server: LocalLogfireServer) -> None:
    """Six hours of records where 5 % arrive between a minute and 24 hours late."""
    rows = generate_records(
        6_000, DAY, DAY + 6 * HOUR, seed=11, now=DAY + 6 * HOUR, late_fraction=0.05
    )
    server.store.append("records", rows)


def definitions(
    server: LocalLogfireServer, root: Path, clock: Clock, **export: object
) -> tuple[Definitions, ExportsConfig]:
    config = parse_exports(
        {"exports": {"records": {"table": "records", "start": "2026-11-01", **export}}}
    )
    defs = build_definitions(
        config,
        logfire=LogfireQueryResource(base_url=server.base_url),
        storage=ParquetStorageResource(root=str(root)),
        clock=clock,
    )
    return defs, config


def hour_keys(first: datetime, count: int) -> list[str]:
    return [(first + i * HOUR).strftime("%Y-%m-%d-%H:%M") for i in range(count)]


def run_sensor(
    defs: Definitions, instance: DagsterInstance, cursor: str | None = None
) -> SensorResult:
    sensor = defs.resolve_sensor_def(SENSOR_NAME)
    context = build_sensor_context(
        instance=instance, definitions=defs, resources=defs.resources, cursor=cursor
    )
    result = sensor(context)
    assert isinstance(result, SensorResult)
    return result


def requested_partitions(result: SensorResult) -> list[str]:
    """The partition keys of the runs a sensor tick asks for."""
    assert result.run_requests is not None
    keys = []
    for request in result.run_requests:
        assert request.partition_key is not None, request
        keys.append(request.partition_key)
    return keys


def server_keys(
    server: LocalLogfireServer, column: str, start: datetime, end: datetime
) -> list[tuple[object, ...]]:
    table = server.store.query(
        f"SELECT {', '.join(KEY)} FROM records WHERE {column} >= {sql_timestamp(start)} "
        f"AND {column} < {sql_timestamp(end)}",
        limit=10**9,
    )
    return sorted(zip(*(table.column(c).to_pylist() for c in KEY), strict=True))


def exported_keys(root: Path) -> list[tuple[object, ...]]:
    table = ds.dataset(root / "records", format="parquet", partitioning="hive").to_table(
        columns=KEY
    )
    return sorted(zip(*(table.column(c).to_pylist() for c in KEY), strict=True))


def manifests(root: Path, config: ExportsConfig, windows: list[TimeWindow]) -> list[dict[str, Any]]:
    store = PartitionStore(str(root))
    spec = config.exports["records"]
    return [
        store.read_manifest("records", partition_values(spec, w), format="parquet") or {}
        for w in windows
    ]


def test_event_time_export_converges_through_reconciliation(
    server: LocalLogfireServer, tmp_path: Path, instance: DagsterInstance, clock: Clock
) -> None:
    late_rows(server)
    defs, config = definitions(server, tmp_path, clock)
    keys = hour_keys(DAY, 6)
    for key in keys:
        assert materialize_partition(defs, "records", key, instance).success
    windows = [TimeWindow(DAY + i * HOUR, DAY + (i + 1) * HOUR) for i in range(6)]
    first_runs = [m["run_id"] for m in manifests(tmp_path, config, windows)]
    # The export holds what the server shows so far; some late rows are still hidden.
    hidden = server.store.row_count("records") - server.store.count(
        "records_all", DAY, DAY + 6 * HOUR
    )
    assert hidden > 0
    assert exported_keys(tmp_path) == server_keys(server, "start_timestamp", DAY, DAY + 6 * HOUR)

    # Nearly a day later the late rows have arrived; the sensor finds the hours that gained.
    clock.now = DAY + timedelta(days=1, hours=7)
    result = run_sensor(defs, instance)
    drifted = requested_partitions(result)
    assert drifted and set(drifted) <= set(keys)
    observed = {e.partition for e in result.asset_events}
    assert set(keys) <= observed  # every settled hour shows when it was last reconciled
    for key in drifted:
        run = materialize_partition(defs, "records", key, instance)
        assert run.success
        [event] = run.asset_materializations_for_node("records")
        assert int_entry(event.metadata, "rows_gained") > 0
        # Run here by hand, not by the daemon.
        assert text_entry(event.metadata, "reason") == "manual"

    assert exported_keys(tmp_path) == server_keys(server, "start_timestamp", DAY, DAY + 6 * HOUR)
    # Hours that did not drift were not rewritten.
    for key, first_run, manifest in zip(
        keys, first_runs, manifests(tmp_path, config, windows), strict=True
    ):
        assert (manifest["run_id"] != first_run) == (key in drifted), key
    # Converged: the next tick asks for nothing; the one after has nothing new to record.
    settled = run_sensor(defs, instance, result.cursor)
    assert settled.run_requests == []
    assert {e.partition for e in settled.asset_events} == set(drifted)  # their new counts
    assert run_sensor(defs, instance, settled.cursor).asset_events == []


def test_ingest_time_export_is_exact_without_reexports(
    server: LocalLogfireServer, tmp_path: Path, instance: DagsterInstance, clock: Clock
) -> None:
    late_rows(server)
    defs, config = definitions(server, tmp_path, clock, cursor="created_at", partitions="daily")
    # At DAY+1 02:00 only DAY's window of created_at has settled (5 minutes after its end).
    assert materialize_partition(defs, "records", DAY.strftime("%Y-%m-%d"), instance).success
    first = TimeWindow(DAY, DAY + timedelta(days=1))
    [before] = manifests(tmp_path, config, [first])

    clock.now = DAY + timedelta(days=2, hours=1)
    next_day = (DAY + timedelta(days=1)).strftime("%Y-%m-%d")
    assert materialize_partition(defs, "records", next_day, instance).success

    everything = server_keys(server, "created_at", DAY, DAY + timedelta(days=2))
    assert len(everything) == server.store.count("records", DAY, DAY + 6 * HOUR)
    assert exported_keys(tmp_path) == everything
    # The first day was exported once and never again; no reconciliation exists for it.
    assert manifests(tmp_path, config, [first]) == [before]
    assert not defs.sensors


def test_the_sensor_does_not_double_a_partition_already_in_flight(
    server: LocalLogfireServer, tmp_path: Path, instance: DagsterInstance, clock: Clock
) -> None:
    late_rows(server)
    defs, _ = definitions(server, tmp_path, clock)
    clock.now = DAY + timedelta(days=1, hours=7)  # nothing exported yet: every hour drifted
    first = run_sensor(defs, instance)
    keys = requested_partitions(first)
    assert keys == hour_keys(DAY, 6)
    create_run_for_test(
        instance,
        job_name="records_job",
        status=DagsterRunStatus.STARTED,
        tags={"dagster/partition": keys[0]},
    )
    again = run_sensor(defs, instance, first.cursor)
    assert requested_partitions(again) == keys[1:]
