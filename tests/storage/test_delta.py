"""`format: delta`: partitions replaced by predicate overwrites, read by three engines."""

import io
import json
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

from pipelines.export.runner import PartitionExporter
from pipelines.export.spec import parse_exports
from pipelines.export.window import TimeWindow
from pipelines.query_api import QueryClient
from pipelines.server.runner import LocalLogfireServer
from pipelines.server.synthetic import records_at
from pipelines.storage.delta import committed_files, read_delta_partition, redact
from pipelines.storage.delta_stats import file_stats
from pipelines.storage.files import ParquetFileSpec, WrittenFile
from pipelines.storage.partitions import PartitionStore, S3Options, StorageError
from tests.storage.conftest import StoreFactory
from tests.storage.helpers import SCHEMA, rows
from tests.storage.s3_server import FAKE_CREDENTIALS, S3Endpoint, clear_s3fs_caches

HOUR_13 = [("date", "2026-12-01"), ("hour", "13")]
HOUR_14 = [("date", "2026-12-01"), ("hour", "14")]
HOUR_15 = [("date", "2026-12-01"), ("hour", "15")]
# Row groups of 4 rows, a new file every 10: 25 rows make three files of 10, 10 and 5.
SMALL_FILES = ParquetFileSpec(row_group_rows=4, max_rows_per_file=10)
START = datetime(2026, 12, 1, 13, tzinfo=UTC)


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


def seconds_apart(count: int) -> pa.Table:
    """Rows in time order, a second apart: files' millisecond statistics tell them apart."""
    return pa.table(
        {
            "ts": [START + timedelta(seconds=n) for n in range(count)],
            "n": list(range(count)),
            "version": ["a"] * count,
        },
        schema=SCHEMA,
    )


def row_group_bounds(store: PartitionStore, files: list[WrittenFile]) -> list[tuple[Any, Any]]:
    """(min, max) of the cursor column of every row group, file after file."""
    bounds = []
    for file in files:
        with store.fs.open(f"{store.root}/records/{file.name}", "rb") as handle:
            metadata = pq.ParquetFile(handle).metadata
        for group in range(metadata.num_row_groups):
            stats = metadata.row_group(group).column(SCHEMA.names.index("ts")).statistics
            bounds.append((stats.min, stats.max))
    return bounds


def test_data_files_are_ordered_by_the_cursor_and_roll_over(make_store: StoreFactory) -> None:
    store = make_store(SMALL_FILES)
    table = seconds_apart(25)
    with store.writer("records", HOUR_13, SCHEMA, format="delta", sort_by="ts") as writer:
        for start in range(0, 25, 5):
            writer.write(table.slice(start, 5))
        committed = writer.commit({"run_id": "r", "partition": dict(HOUR_13)})
    uri, options = store.table_uri("records"), delta_options(store)
    files = committed_files(uri, HOUR_13, options)
    assert files == committed.files
    assert [f.rows for f in files] == [10, 10, 5]
    bounds = row_group_bounds(store, files)
    assert len(bounds) > len(files)  # several row groups per file
    assert all(low <= high for low, high in bounds)
    assert all(before[1] < after[0] for before, after in pairwise(bounds))

    # The log's file statistics say the same, so a time filter skips whole files.
    delta = DeltaTable(uri, storage_options=options)
    actions = pa.table(delta.get_add_actions(flatten=True)).sort_by("path").to_pylist()
    assert [a["num_records"] for a in actions] == [10, 10, 5]
    assert all(a["max.ts"] < b["min.ts"] for a, b in pairwise(actions))
    late = delta.to_pyarrow_dataset(
        file_pruning_predicate=[("ts", ">=", START + timedelta(seconds=20))]
    )
    assert len(list(late.get_fragments())) == 1
    middle = pl.scan_delta(uri, storage_options=options).filter(
        pl.col("ts").is_between(START + timedelta(seconds=9), START + timedelta(seconds=10))
    )
    assert middle.collect()["n"].to_list() == [9, 10]


def test_file_statistics_are_bounds_readers_can_trust() -> None:
    schema = pa.schema(
        [
            pa.field("ts", pa.timestamp("us", tz="UTC")),
            pa.field("i", pa.int32()),
            pa.field("x", pa.float64()),
            pa.field("ok", pa.bool_()),
            pa.field("day", pa.date32()),
            pa.field("name", pa.string()),
            pa.field("attributes", pa.string()),
            pa.field("tags", pa.list_(pa.string())),
            pa.field("empty", pa.int64()),
        ]
    )
    first = datetime(2026, 12, 1, 13, 0, 0, 123_456, tzinfo=UTC)
    table = pa.table(
        {
            "ts": [first, first + timedelta(microseconds=1)],
            "i": [3, -2],
            "x": [1.5, float("nan")],
            "ok": [True, None],
            "day": [datetime(2026, 12, 1).date(), datetime(2026, 11, 30).date()],
            "name": ["b", "a"],
            "attributes": ['{"k": "' + "v" * 100 + '"}', None],
            "tags": [["t"], []],
            "empty": [None, None],
        },
        schema=schema,
    )
    buffer = io.BytesIO()
    pq.write_table(table, buffer, row_group_size=1)
    stats = json.loads(file_stats(pq.read_metadata(io.BytesIO(buffer.getvalue())), schema))
    assert stats["numRecords"] == 2
    # Milliseconds, as Delta writers store them: the minimum rounded down, the maximum up.
    assert stats["minValues"]["ts"] == "2026-12-01T13:00:00.123Z"
    assert stats["maxValues"]["ts"] == "2026-12-01T13:00:00.124Z"
    assert (stats["minValues"]["i"], stats["maxValues"]["i"]) == (-2, 3)
    assert (stats["minValues"]["day"], stats["maxValues"]["day"]) == ("2026-11-30", "2026-12-01")
    assert (stats["minValues"]["name"], stats["maxValues"]["name"]) == ("a", "b")
    # Long strings, nested columns and columns of only nulls have no bounds.
    assert {"attributes", "tags", "empty"}.isdisjoint(stats["minValues"])
    assert stats["nullCount"] == {
        "ts": 0,
        "i": 0,
        "x": 0,
        "ok": 1,
        "day": 0,
        "name": 0,
        "attributes": 1,
        "empty": 2,
    }


def test_a_row_group_without_bounds_leaves_its_column_without_bounds() -> None:
    """Arrow writes no min / max for a string over 4 KB; other groups' bounds would lie."""
    schema = pa.schema([pa.field("message", pa.string())])
    table = pa.table({"message": ["b", "c", "a" + "z" * 5000, "z" * 5000]}, schema=schema)
    buffer = io.BytesIO()
    pq.write_table(table, buffer, row_group_size=2)
    metadata = pq.read_metadata(io.BytesIO(buffer.getvalue()))
    assert not metadata.row_group(1).column(0).statistics.has_min_max  # the premise
    stats = json.loads(file_stats(metadata, schema))
    assert "message" not in stats["minValues"] and "message" not in stats["maxValues"]


def test_a_table_with_other_columns_is_refused(make_store: StoreFactory) -> None:
    store = make_store()
    write(store, HOUR_13, rows("a", 5))
    version = DeltaTable(store.table_uri("records"), storage_options=delta_options(store)).version()
    wider = SCHEMA.append(pa.field("extra", pa.string()))
    with (
        pytest.raises(StorageError, match="has columns"),
        store.writer("records", HOUR_14, wider, format="delta") as writer,
    ):
        writer.write(rows("b", 3).append_column("extra", pa.array(["x"] * 3)))
        writer.commit({"run_id": "r", "partition": dict(HOUR_14)})
    table = DeltaTable(store.table_uri("records"), storage_options=delta_options(store))
    assert table.version() == version
    assert table_versions(store) == ["a"] * 5


def test_credentials_are_kept_out_of_error_messages() -> None:
    options = {"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "s3cr3t"}
    message = "signature for AKIDEXAMPLE with s3cr3t does not match"
    assert redact(message, options) == "signature for *** with *** does not match"
    assert redact(message, None) == message


def test_manifests_of_many_partitions_take_one_read_of_the_history(
    make_store: StoreFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = make_store()
    write(store, HOUR_13, rows("a", 5))
    write(store, HOUR_14, rows("b", 3))
    write(store, HOUR_13, rows("c", 4))
    reads = []
    history = DeltaTable.history

    def counted(table: DeltaTable, limit: int | None = None) -> list[dict[str, Any]]:
        reads.append(limit)
        return history(table, limit)

    monkeypatch.setattr(DeltaTable, "history", counted)
    manifests = store.read_manifests("records", [HOUR_13, HOUR_14, HOUR_15], format="delta")
    assert [m and m["rows"] for m in manifests] == [4, 3, None]
    assert len(reads) == 1
    assert store.read_manifests("nothing-yet", [HOUR_13], format="delta") == [None]


def use_profile_only(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Credentials from a named profile in a shared credentials file, none in the environment."""
    credentials = tmp_path / "credentials"
    credentials.write_text(
        "[logfire-export-test]\naws_access_key_id = profile-key\n"
        "aws_secret_access_key = profile-secret\n"
    )
    for name in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_PROFILE", "logfire-export-test")
    # No instance metadata service to fall back on: the profile is all there is.
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    clear_s3fs_caches()


def test_a_profile_alone_is_enough_for_delta_on_s3(
    s3_bucket: str, s3_endpoint: S3Endpoint, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    use_profile_only(monkeypatch, tmp_path)
    store = PartitionStore(f"s3://{s3_bucket}/out", s3=S3Options(s3_endpoint.url))
    store.check_writable()
    write(store, HOUR_13, rows("a", 5))
    options = store.delta_storage_options()
    assert options is not None and options["AWS_ACCESS_KEY_ID"] == "profile-key"
    part = read_delta_partition(store.table_uri("records"), HOUR_13, options)
    assert part.column("n").to_pylist() == [0, 1, 2, 3, 4]
    manifest = store.read_manifest("records", HOUR_13, format="delta")
    assert manifest is not None and manifest["rows"] == 5


def test_an_endpoint_from_the_environment_is_used_over_plain_http(
    s3_bucket: str, s3_endpoint: S3Endpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint.url)
    clear_s3fs_caches()
    store = PartitionStore(f"s3://{s3_bucket}/out")  # no endpoint of its own
    store.check_writable()
    write(store, HOUR_13, rows("a", 5))
    options = store.delta_storage_options()
    assert options is not None and options["AWS_ALLOW_HTTP"] == "true"
    assert read_delta_partition(store.table_uri("records"), HOUR_13, options).num_rows == 5


def test_the_rows_a_partition_holds_are_counted_from_the_log(make_store: StoreFactory) -> None:
    store = make_store()
    assert store.current_rows("records", HOUR_13, format="delta") is None  # no table yet
    write(store, HOUR_13, rows("a", 25))
    assert store.current_rows("records", HOUR_13, format="delta") == 25
    assert store.current_rows("records", HOUR_14, format="delta") is None
