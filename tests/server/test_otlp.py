"""OTLP intake over real HTTP: protobuf and JSON, traces, logs and metrics."""

import gzip
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, SeverityNumber

from pipelines.server import LocalLogfireServer

START = datetime(2024, 5, 1, 12, tzinfo=UTC)
NANOS = int(START.timestamp()) * 1_000_000_000
TRACE = "0af7651916cd43dd8448eb211c80319c"
RESOURCE = {
    "attributes": [
        {"key": "service.name", "value": {"stringValue": "shop"}},
        {"key": "deployment.environment.name", "value": {"stringValue": "prod"}},
        {"key": "process.pid", "value": {"intValue": "4242"}},
        {"key": "telemetry.sdk.language", "value": {"stringValue": "python"}},
    ]
}


def attr(key: str, **value: Any) -> dict[str, Any]:
    return {"key": key, "value": value}


def span(span_id: str, name: str, *attrs: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "traceId": TRACE,
        "spanId": span_id,
        "name": name,
        "startTimeUnixNano": str(NANOS),
        "endTimeUnixNano": str(NANOS + 1_500_000_000),
        "attributes": list(attrs),
        **extra,
    }


TRACES = {
    "resourceSpans": [{
        "resource": RESOURCE,
        "scopeSpans": [{
            "scope": {"name": "logfire", "version": "5.4.0"},
            "spans": [
                span("b7ad6b7169203331", "checkout {id}",
                     attr("logfire.msg", stringValue="checkout 7"),
                     attr("logfire.tags", arrayValue={"values": [{"stringValue": "shop"}]}),
                     attr("logfire.json_schema", stringValue='{"type":"object","properties":'
                                                             '{"cart":{"type":"object"}}}'),
                     attr("cart", stringValue='{"items": 2}'),
                     attr("http.request.method", stringValue="POST"),
                     attr("http.response.status_code", intValue="201"),
                     attr("url.full", stringValue="https://shop.example/checkout?x=1"),
                     attr("http.route", stringValue="/checkout")),
                span("00f067aa0ba902b7", "failing child",
                     parentSpanId="b7ad6b7169203331",
                     status={"code": 2, "message": "boom"},
                     events=[{"name": "exception", "timeUnixNano": str(NANOS),
                              "attributes": [attr("exception.type", stringValue="ValueError"),
                                             attr("exception.message", stringValue="bad"),
                                             attr("exception.stacktrace", stringValue="tb")]}]),
                span("1111111111111111", "a log",
                     attr("logfire.span_type", stringValue="log"),
                     attr("logfire.level_num", intValue="13")),
                span("2222222222222222", "still running",
                     attr("logfire.span_type", stringValue="pending_span")),
            ],
        }],
    }]
}  # fmt: skip

COLUMNS = (
    "kind, span_id, parent_span_id, trace_id, span_name, message, level, tags, attributes, "
    "duration, service_name, deployment_environment, process_pid, otel_scope_name, "
    "is_exception, exception_type, exception_message, otel_status_code, otel_status_message, "
    "http_method, http_response_status_code, http_route, url_full, day, project_id, created_at"
)


def post(server: LocalLogfireServer, path: str, content: bytes, **headers: str) -> httpx.Response:
    headers = {"authorization": server.write_token, **headers}
    return httpx.post(f"{server.base_url}{path}", content=content, headers=headers)


def rows(server: LocalLogfireServer, sql: str) -> list[dict[str, Any]]:
    table = server.store.query(sql, min_timestamp=START - timedelta(hours=1), limit=100)
    return list(table.to_pylist())


def test_json_traces_become_records_with_logfire_columns(server: LocalLogfireServer) -> None:
    response = post(
        server, "/v1/traces", json.dumps(TRACES).encode(), **{"content-type": "application/json"}
    )
    assert response.status_code == 200
    found = {r["span_id"]: r for r in rows(server, f"SELECT {COLUMNS} FROM records_all")}
    root = found["b7ad6b7169203331"]
    assert root["kind"] == "span" and root["trace_id"] == TRACE
    assert root["message"] == "checkout 7" and root["span_name"] == "checkout {id}"
    assert root["level"] == 9 and root["tags"] == ["shop"] and root["duration"] == 1.5
    assert json.loads(root["attributes"])["cart"] == {"items": 2}
    assert (root["http_method"], root["http_response_status_code"]) == ("POST", 201)
    assert root["url_full"] == "https://shop.example/checkout?x=1"
    assert root["http_route"] == "/checkout"
    assert (root["service_name"], root["deployment_environment"]) == ("shop", "prod")
    assert root["process_pid"] == 4242 and root["otel_scope_name"] == "logfire"
    assert root["day"] == START.date() and root["project_id"]
    child = found["00f067aa0ba902b7"]
    assert child["parent_span_id"] == "b7ad6b7169203331"
    assert child["level"] == 17 and child["is_exception"] is True
    assert (child["exception_type"], child["exception_message"]) == ("ValueError", "bad")
    assert (child["otel_status_code"], child["otel_status_message"]) == ("ERROR", "boom")
    log = found["1111111111111111"]
    assert (log["kind"], log["level"], log["duration"]) == ("log", 13, None)
    assert found["2222222222222222"]["kind"] == "pending_span"
    visible = {r["span_id"] for r in rows(server, "SELECT span_id FROM records")}
    assert "2222222222222222" not in visible


def test_protobuf_gzip_and_bearer_are_accepted(server: LocalLogfireServer) -> None:
    request = ExportLogsServiceRequest()
    scope_logs = request.resource_logs.add().scope_logs.add()
    severities = (
        (SeverityNumber.SEVERITY_NUMBER_TRACE, "trace"),
        (SeverityNumber.SEVERITY_NUMBER_DEBUG, "debug"),
        (SeverityNumber.SEVERITY_NUMBER_ERROR, "error"),
        (SeverityNumber.SEVERITY_NUMBER_FATAL, "fatal"),
    )
    for severity, text in severities:
        scope_logs.log_records.append(LogRecord(
            time_unix_nano=NANOS, severity_number=severity,
            body=AnyValue(string_value=f"{text} happened"),
            attributes=[KeyValue(key="user", value=AnyValue(int_value=3))],
        ))  # fmt: skip
    response = post(server, "/v1/logs", gzip.compress(request.SerializeToString()),
                    **{"content-type": "application/x-protobuf", "content-encoding": "gzip",
                       "authorization": f"Bearer {server.write_token}"})  # fmt: skip
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-protobuf"
    found = rows(server, "SELECT kind, level, message, log_body, service_name, span_id "
                         "FROM records ORDER BY level")  # fmt: skip
    assert [(r["kind"], r["level"]) for r in found] == [("log", 1), ("log", 5), ("log", 17),
                                                         ("log", 21)]  # fmt: skip
    assert found[0]["message"] == found[0]["log_body"] == "trace happened"
    assert found[0]["service_name"] == "unknown_service"
    assert len({r["span_id"] for r in found}) == 4


def test_metrics_of_every_type(server: LocalLogfireServer) -> None:
    request = ExportMetricsServiceRequest()
    metrics = request.resource_metrics.add().scope_metrics.add().metrics
    gauge = metrics.add(name="temperature", unit="Cel")
    gauge.gauge.data_points.add(time_unix_nano=NANOS, as_double=21.5)
    total = metrics.add(name="requests", unit="{request}")
    total.sum.is_monotonic = True
    total.sum.aggregation_temporality = 1
    total.sum.data_points.add(time_unix_nano=NANOS, start_time_unix_nano=NANOS - 10, as_int=7)
    histogram = metrics.add(name="latency", unit="ms").histogram
    histogram.aggregation_temporality = 2
    histogram.data_points.add(time_unix_nano=NANOS, count=3, sum=30.0, bucket_counts=[1, 2, 0],
                              explicit_bounds=[10.0, 20.0], min=5.0, max=15.0)  # fmt: skip
    exponential = metrics.add(name="sizes", unit="By").exponential_histogram
    point = exponential.data_points.add(time_unix_nano=NANOS, count=4, scale=2, zero_count=1)
    point.positive.offset = 3
    point.positive.bucket_counts.extend([1, 2])
    response = post(server, "/v1/metrics", request.SerializeToString(),
                    **{"content-type": "application/x-protobuf"})  # fmt: skip
    assert response.status_code == 200
    found = {r["metric_name"]: r for r in rows(server, "SELECT * FROM metrics")}
    assert found["temperature"]["metric_type"] == "gauge"
    assert found["temperature"]["scalar_value"] == 21.5
    assert found["temperature"]["recorded_timestamp"] == START
    assert found["requests"]["is_monotonic"] is True
    assert found["requests"]["aggregation_temporality"] == "delta"
    assert found["latency"]["histogram_bucket_counts"] == [1, 2, 0]
    assert found["latency"]["histogram_explicit_bounds"] == [10.0, 20.0]
    assert found["latency"]["aggregation_temporality"] == "cumulative"
    assert found["sizes"]["exp_histogram_positive_bucket_counts"] == [1, 2]
    assert found["sizes"]["exp_histogram_positive_bucket_counts_offset"] == 3


def test_created_at_is_the_store_clock(server: LocalLogfireServer) -> None:
    moment = datetime(2030, 1, 1, tzinfo=UTC)
    from pipelines.server.store import TelemetryStore

    server.reset(TelemetryStore(clock=lambda: moment))
    post(server, "/v1/traces", json.dumps(TRACES).encode(), **{"content-type": "application/json"})
    assert {r["created_at"] for r in rows(server, "SELECT created_at FROM records")} == {moment}


@pytest.mark.parametrize(
    ("content", "content_type", "status"),
    [(b"\xff\x00garbage", "application/x-protobuf", 400), (b"{", "application/json", 400),
     (b"x", "text/plain", 415)],
    ids=["bad-protobuf", "bad-json", "bad-content-type"],
)  # fmt: skip
def test_bad_bodies_are_rejected(
    server: LocalLogfireServer, content: bytes, content_type: str, status: int
) -> None:
    response = post(server, "/v1/traces", content, **{"content-type": content_type})
    assert response.status_code == status
    assert response.json()["detail"]


def test_the_read_token_cannot_write(server: LocalLogfireServer) -> None:
    response = post(server, "/v1/traces", b"", authorization=server.read_token)
    assert response.status_code == 401


def test_a_span_without_ids_is_rejected_with_400(server: LocalLogfireServer) -> None:
    broken = {"resourceSpans": [{"scopeSpans": [{"spans": [{"name": "no ids"}]}]}]}
    response = post(server, "/v1/traces", json.dumps(broken).encode(),
                    **{"content-type": "application/json"})  # fmt: skip
    assert response.status_code == 400
    assert "NOT NULL" in response.json()["detail"]
