"""Property-based: for generated data sets the union of exported partitions equals the
server's rows exactly, and the request counts stay within their bounds."""

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.export.runner import PartitionExporter
from pipelines.export.spec import ExportSpec, parse_exports
from pipelines.export.window import TimeWindow, sql_timestamp
from pipelines.query_api import MAX_ROW_LIMIT, QueryClient
from pipelines.server.runner import LocalLogfireServer
from pipelines.server.synthetic import records_at
from pipelines.storage.partitions import PartitionStore
from tests.conftest import FAST_RETRIES

START = datetime(2026, 12, 1, 10, tzinfo=UTC)
HOUR = timedelta(hours=1)
US = timedelta(microseconds=1)
HOURS = 2
# A small limit makes ties across the limit cheap to generate; the logic is the same.
LIMIT = 20
KEY = ["trace_id", "span_id", "kind", "start_timestamp"]
SPEC: ExportSpec = parse_exports(
    {"exports": {"records": {"table": "records", "start": "2026-11-01"}}}
).exports["records"]

# Microsecond offsets from START that sit on window edges (or just outside the windows).
EDGES = [-1, 0, 1] + [h * 3_600_000_000 + d for h in range(1, HOURS + 1) for d in (-1, 0, 1)]
offsets = st.one_of(st.sampled_from(EDGES), st.integers(-10, HOURS * 3_600_000_000 + 10))
bursts = st.tuples(offsets, st.sampled_from([LIMIT - 1, LIMIT, LIMIT + 1, 2 * LIMIT + 3]))
datasets = st.tuples(st.lists(offsets, max_size=120), st.lists(bursts, max_size=3))


def export_hours(client: QueryClient, root: Path, limit: int) -> list[int]:
    """Export every hour; return the requests each one cost."""
    exporter = PartitionExporter(client, PartitionStore(str(root)), limit=limit)
    costs = []
    for hour in range(HOURS):
        window = TimeWindow(START + hour * HOUR, START + (hour + 1) * HOUR)
        costs.append(exporter.export(SPEC, window, run_id="property").requests)
    return costs


def keys_of(table: pa.Table) -> list[tuple[object, ...]]:
    return sorted(zip(*(table.column(c).to_pylist() for c in KEY), strict=True))


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=datasets)
def test_union_of_partitions_equals_the_server_exactly(
    running_server: LocalLogfireServer,
    tmp_path_factory: pytest.TempPathFactory,
    data: tuple[list[int], list[tuple[int, int]]],
) -> None:
    single, burst_list = data
    server = running_server
    server.reset()
    moments = [START + o * US for o in single]
    for offset, count in burst_list:
        moments += [START + offset * US] * count
    if moments:
        server.store.append("records", records_at(moments, seed=len(moments)))
    root = tmp_path_factory.mktemp("out")
    with QueryClient(server.read_token, base_url=server.base_url, retry=FAST_RETRIES) as client:
        export_hours(client, root, LIMIT)

    exported = ds.dataset(root / "records", format="parquet", partitioning="hive").to_table()
    expected = server.store.query(
        f"SELECT {', '.join(KEY)} FROM records WHERE start_timestamp >= {sql_timestamp(START)} "
        f"AND start_timestamp < {sql_timestamp(START + HOURS * HOUR)}",
        limit=10**9,
    )
    exported_keys = keys_of(exported)
    assert len(exported_keys) == len(set(exported_keys)), "a row was exported twice"
    assert exported_keys == keys_of(expected)


def spread(count: int) -> list[datetime]:
    """`count` distinct timestamps evenly over the first hour (the steady state)."""
    step = 3_600_000_000 // max(count, 1)
    return [START + i * step * US for i in range(count)]


@pytest.mark.parametrize("rows", [0, 1, 500, 9_999, 10_000, 10_001, 25_000, 60_000])
def test_requests_stay_within_the_bound(
    server: LocalLogfireServer, client: QueryClient, tmp_path: Path, rows: int
) -> None:
    if rows:
        server.store.append("records", records_at(spread(rows), seed=rows))
    exporter = PartitionExporter(client, PartitionStore(str(tmp_path)))
    result = exporter.export(SPEC, TimeWindow(START, START + HOUR), run_id="bound")
    assert result.rows == rows
    # Counted by the client itself: one histogram plus chunks that each fit the limit.
    assert result.requests == client.stats.requests
    assert result.requests <= math.ceil(rows / MAX_ROW_LIMIT) + 2
    if rows < MAX_ROW_LIMIT:
        assert result.requests <= 2
