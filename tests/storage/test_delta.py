"""`format: delta`: partitions replaced by predicate overwrites, read by three engines."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pytest
from deltalake import DeltaTable

from pipelines.export.runner import PartitionExporter
from pipelines.export.spec import parse_exports
from pipelines.export.window import TimeWindow
from pipelines.query_api import QueryClient
from pipelines.server.runner import LocalLogfireServer
from pipelines.server.synthetic import records_at
from pipelines.storage.delta import read_delta_partition
from pipelines.storage.partitions import PartitionStore
from tests.storage.conftest import StoreFactory
from tests.storage.helpers import SCHEMA, rows
from tests.storage.s3_server import FAKE_CREDENTIALS

HOUR_13 = [("date", "2026-12-01"), ("hour", "13")]
HOUR_14 = [("date", "2026-12-01"), ("hour", "14")]
HOUR_15 = [("date", "2026-12-01"), ("hour", "15")]


def write(store: PartitionStore, partition: list[tuple[str, str]], table: pa.Table) -> None:
    with store.writer("records", partition, SCHEMA, format="delta", sort_by="ts") as writer:
        writer.write(table)
        writer.commit({"run_id": "r", "partition": dict(partition), "rows": table.num_rows})


def delta_options(store: PartitionStore) -> dict[str, str] | None:
    options = store.delta_storage_options()
    # Polars hands these to deltalake in its own call, without the process's environment.
    return None if options is None else {**options, **FAKE_CREDENTIALS}


def table_versions(store: PartitionStore) -> list[str]:
    table = DeltaTable(store.table_uri("records"), storage_options=delta_options(store))
    return sorted(table.to_pyarrow_table().column("version").to_pylist())


def test_partitions_are_replaced_and_reruns_are_idempotent(make_store: StoreFactory) -> None:
    store = make_store()
    write(store, HOUR_13, rows("a", 5))
    write(store, HOUR_14, rows("b", 3))
    write(store, HOUR_15, SCHEMA.empty_table())
    write(store, HOUR_13, rows("c", 4))  # replaces hour 13 only
    write(store, HOUR_13, rows("c", 4))  # the same export again changes nothing
    assert table_versions(store) == ["b"] * 3 + ["c"] * 4
    part = read_delta_partition(store.table_uri("records"), HOUR_13, delta_options(store))
    assert part.column("n").to_pylist() == [0, 1, 2, 3]
    manifest = store.read_manifest("records", HOUR_13, format="delta")
    assert manifest is not None and manifest["rows"] == 4 and manifest["run_id"] == "r"


def test_deltalake_polars_and_duckdb_read_the_same_table(make_store: StoreFactory) -> None:
    store = make_store()
    write(store, HOUR_13, rows("a", 5))
    write(store, HOUR_14, rows("b", 3))
    write(store, HOUR_15, SCHEMA.empty_table())
    uri, options = store.table_uri("records"), delta_options(store)
    table = DeltaTable(uri, storage_options=options)
    expected = table.to_pyarrow_table().sort_by([("hour", "ascending"), ("n", "ascending")])
    assert expected.schema.field("hour").type == pa.string()
    assert expected.schema.field("ts").type == pa.timestamp("us", tz="UTC")
    assert expected.num_rows == 8

    polars = pl.scan_delta(uri, storage_options=options).sort(["hour", "n"]).collect()
    assert polars.to_arrow().to_pylist() == expected.to_pylist()
    assert polars.schema["hour"] == pl.String

    dataset = table.to_pyarrow_dataset()
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    connection.register("records", dataset)
    got = connection.sql("SELECT * FROM records ORDER BY hour, n").to_arrow_table()
    assert got.to_pylist() == expected.to_pylist()


def test_a_failed_export_leaves_the_table_as_it_was(make_store: StoreFactory) -> None:
    store = make_store()
    write(store, HOUR_13, rows("a", 5))
    version = DeltaTable(store.table_uri("records"), storage_options=delta_options(store)).version()
    with (
        pytest.raises(RuntimeError, match="boom"),
        store.writer("records", HOUR_13, SCHEMA, format="delta") as writer,
    ):
        writer.write(rows("b", 2))
        raise RuntimeError("boom")
    table = DeltaTable(store.table_uri("records"), storage_options=delta_options(store))
    assert table.version() == version
    assert table_versions(store) == ["a"] * 5


def test_an_export_with_format_delta_writes_the_table_once(
    server: LocalLogfireServer, client: QueryClient, tmp_path: Path
) -> None:
    window = TimeWindow(
        datetime(2026, 12, 1, 13, tzinfo=UTC), datetime(2026, 12, 1, 14, tzinfo=UTC)
    )
    server.store.append(
        "records", records_at([window.start + timedelta(seconds=s) for s in range(300)])
    )
    document = {
        "exports": {"records": {"table": "records", "start": "2026-11-01", "format": "delta"}}
    }
    spec = parse_exports(document).exports["records"]
    store = PartitionStore(str(tmp_path))
    for _ in range(2):  # a re-run replaces the partition with the same rows
        result = PartitionExporter(client, store).export(spec, window, run_id="r")
        assert result.rows == 300
    part = read_delta_partition(
        store.table_uri("records"), [("date", "2026-12-01"), ("hour", "13")], None
    )
    assert part.num_rows == 300 and part.column("hour").unique().to_pylist() == ["13"]
    manifest = store.read_manifest(
        "records", [("date", "2026-12-01"), ("hour", "13")], format="delta"
    )
    assert manifest is not None and manifest["cursor"] == "start_timestamp"
