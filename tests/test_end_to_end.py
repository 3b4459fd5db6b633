"""Telemetry from the real `logfire` SDK, exported by Dagster, read back from Parquet."""

from datetime import timedelta
from pathlib import Path

import duckdb
import pyarrow.dataset as ds
import pytest
from dagster import DagsterInstance, TimeWindow

from pipelines.export.spec import parse_exports
from pipelines.orchestration.assets import partitions_for
from pipelines.orchestration.build import build_definitions
from pipelines.orchestration.local_runs import materialize_partition
from pipelines.orchestration.resources import LogfireQueryResource, ParquetStorageResource
from pipelines.server.runner import LocalLogfireServer
from pipelines.server.sdk_workload import run_sdk_workload_in_subprocess

KEY = ("trace_id", "span_id", "kind", "start_timestamp")


def test_sdk_telemetry_round_trips_through_dagster_to_parquet(
    server: LocalLogfireServer,
    tmp_path: Path,
    instance: DagsterInstance,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run_sdk_workload_in_subprocess(server.base_url, server.write_token)
    bounds = server.store.query(
        "SELECT min(start_timestamp) AS lo, max(start_timestamp) AS hi FROM records", limit=1
    ).to_pylist()[0]
    config = parse_exports({"exports": {"records": {"table": "records", "start": "2026-01-01"}}})
    spec = config.exports["records"]
    monkeypatch.setenv("LOGFIRE_READ_TOKEN", server.read_token)
    (tmp_path / "out").mkdir()
    defs = build_definitions(
        config,
        logfire=LogfireQueryResource(base_url=server.base_url),
        storage=ParquetStorageResource(root=str(tmp_path / "out")),
        end_offset=1,  # the SDK's spans are in the running hour
    )
    # The workload may straddle an hour boundary: export every hour it touched.
    partitions_def = partitions_for(spec, end_offset=1)
    first_hour = bounds["lo"].replace(minute=0, second=0, microsecond=0)
    last_hour = bounds["hi"].replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    keys = partitions_def.get_partition_keys_in_time_window(TimeWindow(first_hour, last_hour))
    for key in keys:
        assert materialize_partition(defs, "records", key, instance).success

    first = partitions_def.time_window_for_partition_key(keys[0]).start
    last = partitions_def.time_window_for_partition_key(keys[-1]).end
    expected = server.store.query(
        "SELECT trace_id, span_id, kind, start_timestamp, message, level FROM records "
        f"WHERE start_timestamp >= TIMESTAMP '{first.isoformat()}' "
        f"AND start_timestamp < TIMESTAMP '{last.isoformat()}'",
        limit=10**6,
    )
    expected_keys = sorted(zip(*(expected.column(c).to_pylist() for c in KEY), strict=True))
    assert len(expected_keys) >= 8  # spans, nested spans, logs and the exception

    dataset = ds.dataset(tmp_path / "out" / "records", format="parquet", partitioning="hive")
    table = dataset.to_table()
    assert table.num_rows == len(expected_keys)
    exported_keys = sorted(zip(*(table.column(c).to_pylist() for c in KEY), strict=True))
    assert exported_keys == expected_keys

    # The same files through DuckDB, with the Hive partition columns as strings.
    pattern = str(tmp_path / "out" / "records" / "**" / "*.parquet")
    relation = duckdb.sql(
        f"SELECT trace_id, span_id, kind, start_timestamp, date, hour "
        f"FROM read_parquet('{pattern}', hive_partitioning = true, hive_types_autocast = false)"
    )
    assert relation is not None  # only a statement that returns no rows gives None
    rows = relation.fetchall()
    assert sorted((r[0], r[1], r[2], r[3]) for r in rows) == exported_keys
    assert {type(r[4]) for r in rows} == {str}

    messages = set(table.column("message").to_pylist())
    assert "reservation failed" in messages
    assert any(m.startswith("checkout") for m in messages)
    assert max(table.column("level").to_pylist()) >= 17  # the error and the exception
