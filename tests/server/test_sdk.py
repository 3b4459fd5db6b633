"""The real `logfire` SDK, unchanged, against the local server: as a reader and as a writer."""

import asyncio
import csv
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from logfire.query_client import (
    AsyncLogfireQueryClient,
    LogfireQueryClient,
    QueryExecutionError,
    QueryRequestError,
)

from pipelines.server import LocalLogfireServer
from pipelines.server.sdk_workload import run_sdk_workload_in_subprocess
from pipelines.server.synthetic import records_at

DAY = datetime(2024, 5, 1, tzinfo=UTC)
SQL = "SELECT span_id, start_timestamp, tags FROM records ORDER BY start_timestamp"


@pytest.fixture
def filled(server: LocalLogfireServer) -> LocalLogfireServer:
    server.store.append("records", records_at([DAY + timedelta(seconds=i) for i in range(150)]))
    return server


def test_query_client_reads_every_format(filled: LocalLogfireServer) -> None:
    with LogfireQueryClient(filled.read_token, base_url=filled.base_url) as client:
        assert client.info() == {"organization_name": "local", "project_name": "local"}
        result = client.query_json_rows(SQL, min_timestamp=DAY)
        assert len(result["rows"]) == 100
        assert result["columns"][1]["datatype"] == {"Timestamp": ["Microsecond", "UTC"]}
        assert result["rows"][0]["start_timestamp"] == "2024-05-01T00:00:00.000000Z"
        table = client.query_arrow(SQL, min_timestamp=DAY, limit=150)
        assert table.num_rows == 150 and table.schema.field("span_id").nullable is False
        text = client.query_csv(SQL, min_timestamp=DAY, max_timestamp=DAY, limit=10)
        assert len(list(csv.DictReader(io.StringIO(text)))) == 1


def test_query_client_errors_read_the_same_as_against_logfire(server: LocalLogfireServer) -> None:
    with LogfireQueryClient(server.read_token, base_url=server.base_url) as client:
        with pytest.raises(QueryExecutionError) as failed:
            client.query_json_rows("SELECT nope FROM records", min_timestamp=DAY)
        assert "nope" in failed.value.args[0]["detail"]
        assert failed.value.problem_type is not None
        with pytest.raises(QueryRequestError) as invalid:
            client.query_json_rows(SQL, min_timestamp=DAY, limit=20_000)
        assert invalid.value.args[0]["detail"][0]["loc"] == ["body", "limit"]


def test_async_query_client(filled: LocalLogfireServer) -> None:
    async def run() -> tuple[Any, Any]:
        async with AsyncLogfireQueryClient(filled.read_token, base_url=filled.base_url) as client:
            rows = await client.query_json_rows(SQL, min_timestamp=DAY, limit=5)
            table = await client.query_arrow(SQL, min_timestamp=DAY, limit=7)
            return rows, table

    rows, table = asyncio.run(run())
    assert len(rows["rows"]) == 5 and table.num_rows == 7


def test_sdk_telemetry_lands_in_the_tables(server: LocalLogfireServer) -> None:
    # In a subprocess: logfire.configure() and instrument_httpx() are process-wide.
    run_sdk_workload_in_subprocess(server.base_url, server.write_token)
    since = datetime.now(UTC) - timedelta(hours=1)
    columns = (
        "kind, level, span_name, message, trace_id, span_id, parent_span_id, service_name, "
        "deployment_environment, tags, attributes, is_exception, exception_type, http_method, "
        "http_response_status_code, url_full, duration, otel_scope_name"
    )
    records = server.store.query(f"SELECT {columns} FROM records", min_timestamp=since, limit=500)
    found = records.to_pylist()
    by_name = {r["span_name"]: r for r in found}
    root = by_name["checkout {order_id}"]
    assert root["kind"] == "span" and root["message"] == "checkout 1234"
    assert root["tags"] == ["demo"] and root["parent_span_id"] is None
    assert root["service_name"] == "sdk-workload" and root["deployment_environment"] == "demo"
    assert by_name["load cart"]["parent_span_id"] == root["span_id"]
    assert json.loads(by_name["load cart"]["attributes"])["items"] == [1, 2, 3]
    assert by_name["cart has {count} items"]["parent_span_id"] == by_name["load cart"]["span_id"]
    assert len({r["trace_id"] for r in found}) == 1
    levels = {r["message"]: r["level"] for r in found if r["kind"] == "log"}
    assert levels["cart has 3 items"] == 5
    assert levels["charging 42.5"] == 9
    assert levels["card visa expires soon"] == 13
    assert levels["order 1234 failed"] == 17
    failed = by_name["reserve stock"]
    assert failed["is_exception"] is True and failed["exception_type"] == "ValueError"
    assert failed["level"] == 17
    http_span = next(r for r in found if r["http_method"] == "GET")
    assert http_span["http_response_status_code"] == 200
    assert http_span["url_full"].endswith("/v1/schemas")
    assert root["duration"] is not None and root["duration"] > 0

    metrics = server.store.query(
        "SELECT metric_name, metric_type, scalar_value, histogram_count FROM metrics",
        min_timestamp=since,
        limit=100,
    ).to_pylist()
    by_metric = {m["metric_name"]: m for m in metrics}
    assert by_metric["workload.requests"]["metric_type"] == "sum"
    assert by_metric["workload.requests"]["scalar_value"] == 3
    assert by_metric["workload.latency"]["histogram_count"] == 3
