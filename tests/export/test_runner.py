"""Exporting partitions from the real local server: every row exactly once."""

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pyarrow as pa
import pytest

from pipelines.export.planner import Chunk, ChunkPlanner
from pipelines.export.runner import (
    ExportError,
    PartitionExporter,
    PartitionResult,
    partition_values,
    schema_fingerprint,
)
from pipelines.export.spec import ExportSpec, parse_exports
from pipelines.export.window import TimeWindow, sql_timestamp
from pipelines.query_api import QueryClient
from pipelines.server.runner import LocalLogfireServer
from pipelines.server.synthetic import records_at
from pipelines.storage.partitions import OutputFormat, PartitionStore, read_partition
from tests.conftest import FAST_RETRIES

WINDOW = TimeWindow(datetime(2026, 12, 1, 13, tzinfo=UTC), datetime(2026, 12, 1, 14, tzinfo=UTC))
KEY = ["trace_id", "span_id", "kind", "start_timestamp"]


def records_spec(**fields: object) -> ExportSpec:
    document = {"exports": {"records": {"table": "records", "start": "2026-11-01", **fields}}}
    return parse_exports(document).exports["records"]


def load(server: LocalLogfireServer, timestamps: list[datetime], seed: int = 1) -> None:
    server.store.append("records", records_at(timestamps, seed=seed))


def spread(count: int, window: TimeWindow = WINDOW, seed: int = 7) -> list[datetime]:
    rng = random.Random(seed)
    span_us = (window.end - window.start) // timedelta(microseconds=1)
    return [window.start + timedelta(microseconds=rng.randrange(span_us)) for _ in range(count)]


def server_rows(server: LocalLogfireServer, spec: ExportSpec, window: TimeWindow) -> pa.Table:
    columns = ", ".join(spec.selected_columns)
    sql = (
        f"SELECT {columns} FROM records WHERE start_timestamp >= {sql_timestamp(window.start)} "
        f"AND start_timestamp < {sql_timestamp(window.end)}"
    )
    if spec.where:
        sql += f" AND ({spec.where})"
    return server.store.query(sql, limit=10**9).cast(spec.arrow_schema)


def exported(store: PartitionStore, spec: ExportSpec, window: TimeWindow) -> pa.Table:
    return read_partition(store, spec.name, partition_values(spec, window))


def assert_exactly_once(exported_rows: pa.Table, expected: pa.Table) -> None:
    keys = list(zip(*(exported_rows.column(c).to_pylist() for c in KEY), strict=True))
    assert len(keys) == len(set(keys)), "a row was exported twice"
    order = [(c, "ascending") for c in KEY]
    assert exported_rows.sort_by(order).equals(expected.sort_by(order))


def run(
    server: LocalLogfireServer,
    client: QueryClient,
    tmp_path: Path,
    spec: ExportSpec | None = None,
    window: TimeWindow = WINDOW,
) -> tuple[PartitionStore, ExportSpec, PartitionResult]:
    spec = spec or records_spec()
    store = PartitionStore(str(tmp_path))
    result = PartitionExporter(client, store).export(spec, window, run_id="test")
    assert_exactly_once(exported(store, spec, window), server_rows(server, spec, window))
    return store, spec, result


def test_25000_rows_are_chunked_under_the_limit(
    server: LocalLogfireServer, client: QueryClient, tmp_path: Path
) -> None:
    # Rows just outside the window on both sides must stay out of it.
    load(server, [*spread(25_000), WINDOW.start - timedelta(microseconds=1), WINDOW.end])
    _, _, result = run(server, client, tmp_path)
    assert result.rows == 25_000
    assert result.splits == 0
    # One histogram, then chunks that each stay under 10,000 rows.
    assert result.requests <= 1 + 4


def test_10001_rows_sharing_one_timestamp_are_paged_by_keyset(
    server: LocalLogfireServer, client: QueryClient, tmp_path: Path
) -> None:
    burst = WINDOW.start + timedelta(minutes=17, microseconds=3)
    load(server, [burst] * 10_001 + spread(500))
    _, _, result = run(server, client, tmp_path)
    assert result.rows == 10_501


def test_exactly_10000_rows(
    server: LocalLogfireServer, client: QueryClient, tmp_path: Path
) -> None:
    load(server, spread(10_000))
    _, _, result = run(server, client, tmp_path)
    assert result.rows == 10_000


def test_rows_on_the_first_and_last_microsecond(
    server: LocalLogfireServer, client: QueryClient, tmp_path: Path
) -> None:
    last = WINDOW.end - timedelta(microseconds=1)
    load(server, [WINDOW.start, WINDOW.start, last, WINDOW.end, WINDOW.start - timedelta(hours=1)])
    _, _, result = run(server, client, tmp_path)
    assert result.rows == 3


def test_an_empty_window_writes_an_empty_file_with_the_schema(
    server: LocalLogfireServer, client: QueryClient, tmp_path: Path
) -> None:
    store, spec, result = run(server, client, tmp_path)
    assert result.rows == 0
    assert result.requests == 2
    assert exported(store, spec, WINDOW).schema.equals(spec.arrow_schema)


def test_a_filtered_export_with_narrowed_columns(
    server: LocalLogfireServer, client: QueryClient, tmp_path: Path
) -> None:
    load(server, spread(3_000))
    spec = records_spec(
        columns=["trace_id", "span_id", "kind", "start_timestamp", "level"], where="level >= 13"
    )
    store, _, result = run(server, client, tmp_path, spec)
    table = exported(store, spec, WINDOW)
    assert table.column_names == ["kind", "level", "span_id", "start_timestamp", "trace_id"]
    assert 0 < result.rows < 3_000
    assert min(table.column("level").to_pylist()) >= 13


def test_the_v1_api_exports_the_same_rows(server: LocalLogfireServer, tmp_path: Path) -> None:
    load(server, [*spread(12_000), WINDOW.start + timedelta(seconds=5)])
    with QueryClient(
        server.read_token, base_url=server.base_url, api_version="v1", retry=FAST_RETRIES
    ) as v1:
        _, _, result = run(server, v1, tmp_path)
    assert result.rows == 12_001


def test_throttling_and_server_errors_are_retried_without_losing_rows(
    server: LocalLogfireServer, client: QueryClient, tmp_path: Path
) -> None:
    load(server, spread(15_000))
    server.faults.inject(status=429, retry_after=0, times=2)
    server.faults.inject(status=503, times=1)
    _, _, result = run(server, client, tmp_path)
    assert result.throttled == 2
    assert result.retries == 3


def test_invalid_sql_in_a_filter_names_the_export_and_leaves_nothing(
    server: LocalLogfireServer, client: QueryClient, tmp_path: Path
) -> None:
    load(server, spread(100))
    spec = records_spec(where="no_such_column = 1")
    store = PartitionStore(str(tmp_path))
    with pytest.raises(ExportError) as info:
        PartitionExporter(client, store).export(spec, WINDOW, run_id="bad")
    message = str(info.value)
    assert "export 'records'" in message
    assert "2026-12-01T13:00:00.000000Z" in message
    assert "no_such_column" in message  # the server's own words
    assert "where: no_such_column = 1" in message  # and a pointer to the export's own SQL
    assert client.stats.requests == 1  # a 400 is never retried
    assert list(tmp_path.rglob("*.parquet")) == []
    assert [p for p in tmp_path.rglob("*") if p.name.startswith(".")] == []


def test_a_failed_reexport_keeps_the_previous_partition(
    server: LocalLogfireServer, client: QueryClient, tmp_path: Path
) -> None:
    load(server, spread(2_000))
    store, spec, _ = run(server, client, tmp_path)
    before = exported(store, spec, WINDOW)
    server.faults.inject(status=500, times=FAST_RETRIES.max_attempts)
    with pytest.raises(ExportError, match="500"):
        PartitionExporter(client, store).export(spec, WINDOW, run_id="second")
    assert exported(store, spec, WINDOW).equals(before)


def test_a_wrong_token_fails_fast_and_names_the_region(
    server: LocalLogfireServer, tmp_path: Path
) -> None:
    wrong = "pylf_v1_eu_NotTheRightToken"
    with QueryClient(wrong, base_url=server.base_url, retry=FAST_RETRIES) as bad:
        with pytest.raises(ExportError) as info:
            PartitionExporter(bad, PartitionStore(str(tmp_path))).export(
                records_spec(), WINDOW, run_id="x"
            )
        assert bad.stats.requests == 1
    message = str(info.value)
    assert "refused the read token" in message and "'eu' region" in message
    assert wrong not in message


def test_rows_arriving_between_planning_and_fetching_are_not_lost(
    server: LocalLogfireServer, client: QueryClient, tmp_path: Path
) -> None:
    """The histogram sees 15 rows; by the fetch 10 more have arrived and the answer is full
    (the limit is 20 here), so the chunk must be split and fetched again."""
    planned_at = WINDOW.end + timedelta(hours=1)
    arrived_at = planned_at + timedelta(minutes=1)
    early = records_at(spread(15, seed=1), seed=1, now=planned_at)
    late = records_at(spread(10, seed=2), seed=2, now=arrived_at)
    server.store.append("records", early)
    server.store.append(
        "records",
        late.set_column(
            late.schema.get_field_index("created_at"),
            "created_at",
            pa.array([arrived_at] * 10, pa.timestamp("us", tz="UTC")),
        ),
    )
    queries = iter([planned_at])  # the first query (the histogram) sees the early rows only
    server.store.clock = lambda: next(queries, arrived_at)
    spec = records_spec()
    store = PartitionStore(str(tmp_path))
    result = PartitionExporter(client, store, limit=20).export(spec, WINDOW, run_id="t")
    assert result.planned_rows == 15
    assert result.splits >= 1
    assert result.rows == 25
    assert_exactly_once(exported(store, spec, WINDOW), server_rows(server, spec, WINDOW))


def test_rows_outside_the_window_are_refused_not_written(tmp_path: Path) -> None:
    """Whatever rewrote the SQL, rows from another hour must never land in this one."""
    outside = datetime(2026, 12, 1, 10, tzinfo=UTC)
    answers = iter(
        [
            pa.table(
                {
                    "bucket": pa.array([WINDOW.start], pa.timestamp("us", tz="UTC")),
                    "rows": pa.array([1], pa.int64()),
                }
            ),
            pa.table({"start_timestamp": pa.array([outside], pa.timestamp("us", tz="UTC"))}),
        ]
    )

    def answer(request: httpx.Request) -> httpx.Response:
        table = next(answers)
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as stream:
            stream.write_table(table)
        return httpx.Response(200, content=sink.getvalue().to_pybytes())

    spec = records_spec(columns=["start_timestamp"])
    fake = QueryClient("t", base_url="http://x", transport=httpx.MockTransport(answer))
    with fake, pytest.raises(ExportError, match="rows outside the window"):
        PartitionExporter(fake, PartitionStore(str(tmp_path))).export(spec, WINDOW, run_id="x")
    assert list(tmp_path.rglob("*.parquet")) == []


def test_a_chunk_that_keeps_timing_out_is_split(
    server: LocalLogfireServer, client: QueryClient, tmp_path: Path
) -> None:
    load(server, spread(3_000))
    store = PartitionStore(str(tmp_path))
    spec = records_spec()
    # The histogram goes through; then the single chunk times out on every retry.
    server.faults.inject(latency=0.0)
    server.faults.inject(status=503, times=FAST_RETRIES.max_attempts)
    result = PartitionExporter(client, store).export(spec, WINDOW, run_id="t")
    assert result.splits == 1 and result.retries == FAST_RETRIES.max_attempts - 1
    assert_exactly_once(exported(store, spec, WINDOW), server_rows(server, spec, WINDOW))


def archive_300_rows(
    server: LocalLogfireServer, client: QueryClient, tmp_path: Path
) -> tuple[PartitionStore, ExportSpec]:
    """Export 300 rows of the window, the archive that the fewer-rows tests protect."""
    load(server, spread(300))
    store, spec, _ = run(server, client, tmp_path)
    return store, spec


def forget_all_but_120_rows(server: LocalLogfireServer) -> None:
    """What Logfire's retention does to a window: the server keeps fewer of its rows."""
    server.reset()
    load(server, spread(120))


def test_fewer_rows_for_the_same_query_leave_the_partition_as_it_is(
    server: LocalLogfireServer, client: QueryClient, tmp_path: Path
) -> None:
    """What Logfire's retention does to an archived day must not reach the archive."""
    store, spec = archive_300_rows(server, client, tmp_path)
    forget_all_but_120_rows(server)
    before = client.stats.snapshot()["requests"]
    with pytest.raises(ExportError, match=r"now has 120 rows .* holds 300 \(from run test\)"):
        PartitionExporter(client, store).export(spec, WINDOW, run_id="second")
    # Only the planning histogram was sent: no row was fetched for nothing.
    assert client.stats.snapshot()["requests"] - before == 1
    assert exported(store, spec, WINDOW).num_rows == 300
    manifest = store.read_manifest(spec.name, partition_values(spec, WINDOW), format="parquet")
    assert manifest is not None and manifest["run_id"] == "test"


def test_without_a_commit_record_the_rows_in_the_files_are_protected(
    server: LocalLogfireServer, client: QueryClient, tmp_path: Path
) -> None:
    """Files a killed commit left, or a Delta record past the history read: counted."""
    store, spec = archive_300_rows(server, client, tmp_path)
    partition = partition_values(spec, WINDOW)
    store.fs.rm(f"{store.partition_path(spec.name, partition)}/_manifest.json")
    forget_all_but_120_rows(server)
    with pytest.raises(ExportError, match=r"holds 300 \(counted in its files, no commit record\)"):
        PartitionExporter(client, store).export(spec, WINDOW, run_id="second")
    assert exported(store, spec, WINDOW).num_rows == 300


def test_rows_that_vanish_between_planning_and_fetching_are_caught_before_the_commit(
    server: LocalLogfireServer,
    client: QueryClient,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store, spec = archive_300_rows(server, client, tmp_path)
    real_plan = ChunkPlanner.plan

    def plan_then_lose_rows(self: ChunkPlanner, start: datetime, end: datetime) -> list[Chunk]:
        chunks = real_plan(self, start, end)  # counts 300: the first check passes
        forget_all_but_120_rows(server)
        return chunks

    monkeypatch.setattr(ChunkPlanner, "plan", plan_then_lose_rows)
    with pytest.raises(ExportError, match="now has 120 rows"):
        PartitionExporter(client, store).export(spec, WINDOW, run_id="second")
    assert exported(store, spec, WINDOW).num_rows == 300


def test_a_record_from_before_fingerprints_is_compared_by_its_query(
    server: LocalLogfireServer, client: QueryClient, tmp_path: Path
) -> None:
    store, spec = archive_300_rows(server, client, tmp_path)
    folder = store.partition_path(spec.name, partition_values(spec, WINDOW))
    manifest_path = f"{folder}/_manifest.json"
    record = json.loads(store.fs.cat_file(manifest_path))
    del record["definition"]
    store.fs.pipe_file(manifest_path, json.dumps(record).encode())
    forget_all_but_120_rows(server)
    with pytest.raises(ExportError, match="holds 300"):
        PartitionExporter(client, store).export(spec, WINDOW, run_id="second")


def test_fewer_rows_replace_the_partition_when_allowed(
    server: LocalLogfireServer, client: QueryClient, tmp_path: Path
) -> None:
    store, spec = archive_300_rows(server, client, tmp_path)
    forget_all_but_120_rows(server)
    exporter = PartitionExporter(client, store)
    result = exporter.export(spec, WINDOW, run_id="second", allow_fewer_rows=True)
    assert (result.rows, result.previous_rows) == (120, 300)
    assert exported(store, spec, WINDOW).num_rows == 120


def test_a_changed_export_may_shrink_its_partitions(
    server: LocalLogfireServer, client: QueryClient, tmp_path: Path
) -> None:
    store, _ = archive_300_rows(server, client, tmp_path)
    narrower = records_spec(where="is_exception")
    result = PartitionExporter(client, store).export(narrower, WINDOW, run_id="narrower")
    assert result.rows < 300 and result.previous_rows == 300
    assert exported(store, narrower, WINDOW).num_rows == result.rows


@pytest.mark.parametrize(("before", "after"), [("parquet", "delta"), ("delta", "parquet")])
def test_switching_an_exports_format_over_its_old_output_is_refused(
    server: LocalLogfireServer,
    client: QueryClient,
    tmp_path: Path,
    before: OutputFormat,
    after: OutputFormat,
) -> None:
    load(server, spread(50))
    store = PartitionStore(str(tmp_path))
    PartitionExporter(client, store).export(records_spec(format=before), WINDOW, run_id="a")
    server.query_log.clear()
    with pytest.raises(ExportError, match=rf"records holds .* now writes {after}: give"):
        PartitionExporter(client, store).export(records_spec(format=after), WINDOW, run_id="b")
    assert len(server.query_log) == 0  # refused before the first query
    partition = partition_values(records_spec(), WINDOW)
    manifest = store.read_manifest("records", partition, format=before)
    assert manifest is not None and manifest["run_id"] == "a"


def test_the_manifest_is_the_commit_record_the_issue_lists(
    server: LocalLogfireServer, client: QueryClient, tmp_path: Path
) -> None:
    load(server, spread(50))
    store, spec, result = run(server, client, tmp_path)
    manifest = store.read_manifest(spec.name, partition_values(spec, WINDOW), format="parquet")
    assert manifest is not None
    # export, window, cursor, rows, files with sizes, schema fingerprint, run id, query,
    # written-at (and what this project adds to them).
    assert manifest["export"] == "records" and manifest["cursor"] == "start_timestamp"
    assert manifest["window"] == {
        "start": "2026-12-01T13:00:00.000000Z",
        "end": "2026-12-01T14:00:00.000000Z",
    }
    assert manifest["rows"] == result.rows == 50
    assert manifest["files"] == [f.as_dict() for f in result.files]
    assert all(f["bytes"] > 0 for f in manifest["files"])
    assert manifest["schema_fingerprint"] == schema_fingerprint(spec.arrow_schema)
    assert manifest["run_id"] == "test"
    assert "FROM records" in manifest["query"]
    assert datetime.fromisoformat(manifest["written_at"]) <= datetime.now(UTC)
