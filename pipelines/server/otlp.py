"""OTLP traces and logs as `records` rows, mapped the way Logfire maps them.

Spans carry Logfire's own attributes (`logfire.span_type`, `logfire.msg`, `logfire.level_num`,
`logfire.tags`, `logfire.json_schema`); spans from other SDKs fall back to the span name,
`info` (or `error` for an ERROR status) and kind `span`. An OTLP log record becomes a `log`
row. Metrics live in `otlp_metrics`.
"""

import contextlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyarrow as pa

# protobuf ships no type stubs and the project does not install types-protobuf.
from google.protobuf.message import Message  # type: ignore[import-untyped]
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from pipelines.schemas import table_definition
from pipelines.server.otlp_common import (
    any_value,
    attributes,
    decode,
    first,
    hex_id,
    integer,
    json_or_none,
    resource_columns,
    scope_columns,
    text,
    timestamp,
    to_json,
)
from pipelines.server.otlp_metrics import metrics_rows

# Logfire's level numbers; they are OTel's severity numbers, so log records keep theirs.
LEVEL_INFO = 9
LEVEL_ERROR = 17
_STATUS_NAMES = {
    Status.STATUS_CODE_UNSET: "UNSET",
    Status.STATUS_CODE_OK: "OK",
    Status.STATUS_CODE_ERROR: "ERROR",
}

Rows = list[dict[str, Any]]


@dataclass(frozen=True)
class Signal:
    """One OTLP endpoint: the request it takes, the table it fills and how rows are made."""

    request: type[Message]
    table: str
    rows: Callable[[Any, str, datetime], Rows]


def span_rows(request: ExportTraceServiceRequest, project_id: str, created_at: datetime) -> Rows:
    rows: Rows = []
    for resource_spans in request.resource_spans:
        resource = resource_columns(resource_spans.resource)
        for scope_spans in resource_spans.scope_spans:
            scope = scope_columns(scope_spans.scope)
            for span in scope_spans.spans:
                row = _span_row(span)
                row.update(resource, **scope, project_id=project_id, created_at=created_at)
                rows.append(row)
    return rows


def log_rows(request: ExportLogsServiceRequest, project_id: str, created_at: datetime) -> Rows:
    rows: Rows = []
    for resource_logs in request.resource_logs:
        resource = resource_columns(resource_logs.resource)
        for scope_logs in resource_logs.scope_logs:
            scope = scope_columns(scope_logs.scope)
            for record in scope_logs.log_records:
                row = _log_row(record)
                row.update(resource, **scope, project_id=project_id, created_at=created_at)
                rows.append(row)
    return rows


SIGNALS = {
    "traces": Signal(ExportTraceServiceRequest, "records", span_rows),
    "logs": Signal(ExportLogsServiceRequest, "records", log_rows),
    "metrics": Signal(ExportMetricsServiceRequest, "metrics", metrics_rows),
}


def convert(
    signal: str, body: bytes, content_type: str, *, project_id: str, created_at: datetime
) -> tuple[str, pa.Table]:
    """Decode one OTLP export request; returns the table name and its rows."""
    spec = SIGNALS[signal]
    request = decode(body, content_type, spec.request)
    rows = spec.rows(request, project_id, created_at)
    return spec.table, pa.Table.from_pylist(rows, schema=table_definition(spec.table).schema)


def _span_row(span: Span) -> dict[str, Any]:
    values = _decoded_attributes(attributes(span.attributes))
    start = timestamp(span.start_time_unix_nano)
    end = timestamp(span.end_time_unix_nano or span.start_time_unix_nano)
    kind = str(values.get("logfire.span_type") or "span")
    status = _STATUS_NAMES.get(span.status.code, "UNSET")
    default_level = LEVEL_ERROR if status == "ERROR" else LEVEL_INFO
    events = [
        {
            "name": event.name,
            "timestamp": timestamp(event.time_unix_nano).isoformat(),
            "attributes": attributes(event.attributes),
        }
        for event in span.events
    ]
    links = [
        {
            "trace_id": hex_id(link.trace_id),
            "span_id": hex_id(link.span_id),
            "attributes": attributes(link.attributes),
        }
        for link in span.links
    ]
    exception = next((e["attributes"] for e in events if e["name"] == "exception"), None)
    tags = values.get("logfire.tags")
    return {
        "kind": kind,
        "trace_id": hex_id(span.trace_id),
        "span_id": hex_id(span.span_id),
        "parent_span_id": hex_id(span.parent_span_id),
        "start_timestamp": start,
        "end_timestamp": end,
        # Logs are instants; pending spans have not ended yet.
        "duration": (end - start).total_seconds() if kind == "span" else None,
        "day": start.date(),
        "level": integer(values.get("logfire.level_num")) or default_level,
        "span_name": span.name,
        "message": str(values.get("logfire.msg") or span.name),
        "tags": [str(tag) for tag in tags] if isinstance(tags, list) else None,
        "attributes": to_json(values),
        "attributes_json_schema": text(values.get("logfire.json_schema")),
        "otel_status_code": status,
        "otel_status_message": span.status.message or None,
        "otel_events": json_or_none(events),
        "otel_links": json_or_none(links),
        **_exception_columns(exception),
        **_http_columns(values),
    }


def _log_row(record: LogRecord) -> dict[str, Any]:
    values = attributes(record.attributes)
    moment = timestamp(record.time_unix_nano or record.observed_time_unix_nano)
    body = any_value(record.body)
    body_text = body if isinstance(body, str) else (None if body is None else to_json(body))
    message = str(values.get("logfire.msg") or body_text or record.event_name or "log")
    # A log record is not a span: it gets its own id, and the span it was emitted in (if
    # any) becomes its parent, which is how it shows up nested in Logfire's trace view.
    return {
        "kind": "log",
        "trace_id": hex_id(record.trace_id) or os.urandom(16).hex(),
        "span_id": os.urandom(8).hex(),
        "parent_span_id": hex_id(record.span_id),
        "start_timestamp": moment,
        "end_timestamp": moment,
        "duration": None,
        "day": moment.date(),
        "level": record.severity_number or LEVEL_INFO,
        "span_name": str(values.get("logfire.msg_template") or record.event_name or message),
        "message": message,
        "log_body": body_text,
        "tags": None,
        "attributes": to_json(values),
        "otel_status_code": None,
        **_exception_columns(values if "exception.type" in values else None),
        **_http_columns(values),
    }


def _decoded_attributes(values: dict[str, Any]) -> dict[str, Any]:
    """Undo the SDK's JSON encoding of non-primitive attribute values, per logfire.json_schema."""
    try:
        schema = json.loads(values.get("logfire.json_schema") or "{}")
        properties = schema.get("properties", {}) if isinstance(schema, dict) else {}
    except ValueError:
        return values
    decoded = dict(values)
    for key, spec in properties.items():
        encoded = isinstance(spec, dict) and (
            spec.get("type") in ("object", "array") or "x-python-datatype" in spec
        )
        if encoded and isinstance(values.get(key), str):
            # Some datatypes (e.g. str subclasses) are sent as plain text, not JSON.
            with contextlib.suppress(ValueError):
                decoded[key] = json.loads(values[key])
    return decoded


def _exception_columns(exception: dict[str, Any] | None) -> dict[str, Any]:
    if exception is None:
        return {"is_exception": False}
    return {
        "is_exception": True,
        "exception_type": text(exception.get("exception.type")),
        "exception_message": text(exception.get("exception.message")),
        "exception_stacktrace": text(exception.get("exception.stacktrace")),
    }


def _http_columns(values: dict[str, Any]) -> dict[str, Any]:
    return {
        "http_method": text(first(values, "http.request.method", "http.method")),
        "http_response_status_code": integer(
            first(values, "http.response.status_code", "http.status_code")
        ),
        "http_route": text(values.get("http.route")),
        "url_full": text(first(values, "url.full", "http.url")),
        "url_path": text(first(values, "url.path", "http.target")),
        "url_query": text(values.get("url.query")),
    }
