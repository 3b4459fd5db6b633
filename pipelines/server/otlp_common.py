"""Decoding OTLP request bodies and the pieces every OTLP signal maps the same way.

OTLP arrives as protobuf (`application/x-protobuf`, what the SDKs send) or as OTLP/JSON
(`application/json`). OTLP/JSON is protobuf's JSON mapping with one difference: trace and
span ids are hex, not base64, so they are converted before `json_format` parses the body.
"""

import base64
import binascii
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

# protobuf ships no type stubs and the project does not install types-protobuf.
from google.protobuf import json_format  # type: ignore[import-untyped]
from google.protobuf.message import DecodeError, Message  # type: ignore[import-untyped]
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

MessageT = TypeVar("MessageT", bound=Message)

PROTOBUF = "application/x-protobuf"
JSON = "application/json"

# OTLP/JSON fields holding ids that are hex strings on the wire (protobuf JSON says base64).
_HEX_ID_FIELDS = frozenset(
    {"traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id"}
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class OtlpDecodeError(ValueError):
    """The request body is not a valid OTLP message of the expected kind."""


def decode(body: bytes, content_type: str, message: type[MessageT]) -> MessageT:
    """Parse an OTLP export request from protobuf or OTLP/JSON."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    name = message.DESCRIPTOR.name
    if media_type == PROTOBUF:
        parsed: MessageT = message()
        try:
            parsed.ParseFromString(body)
        except DecodeError as exc:
            raise OtlpDecodeError(f"invalid protobuf {name}: {exc}") from exc
        return parsed
    if media_type == JSON:
        try:
            document = json.loads(body)
            parsed = message()
            json_format.ParseDict(_hex_ids_to_base64(document), parsed, ignore_unknown_fields=True)
        except (ValueError, json_format.ParseError) as exc:
            raise OtlpDecodeError(f"invalid OTLP/JSON {name}: {exc}") from exc
        return parsed
    raise OtlpDecodeError(f"unsupported content type {content_type!r}; use {PROTOBUF} or {JSON}")


def _hex_ids_to_base64(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            key: _hex_to_base64(value) if key in _HEX_ID_FIELDS else _hex_ids_to_base64(value)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_hex_ids_to_base64(item) for item in node]
    return node


def _hex_to_base64(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return base64.b64encode(bytes.fromhex(value)).decode("ascii")
    except ValueError:
        # Not hex: leave it for protobuf's own base64 parsing (some senders use base64).
        return value


def any_value(value: AnyValue) -> Any:
    """An OTLP AnyValue as the plain Python value it carries."""
    which = value.WhichOneof("value")
    if which is None:
        return None
    if which == "array_value":
        return [any_value(item) for item in value.array_value.values]
    if which == "kvlist_value":
        return attributes(value.kvlist_value.values)
    if which == "bytes_value":
        return base64.b64encode(value.bytes_value).decode("ascii")
    return getattr(value, which)


def attributes(pairs: Iterable[KeyValue]) -> dict[str, Any]:
    return {pair.key: any_value(pair.value) for pair in pairs}


def to_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), default=str)


def json_or_none(items: list[Any]) -> str | None:
    return to_json(items) if items else None


def hex_id(raw: bytes) -> str | None:
    return binascii.hexlify(raw).decode("ascii") if raw else None


def timestamp(unix_nano: int) -> datetime:
    # Logfire keeps microseconds; the nanoseconds are dropped, not rounded.
    return _EPOCH + timedelta(microseconds=unix_nano // 1000)


def optional_timestamp(unix_nano: int) -> datetime | None:
    return timestamp(unix_nano) if unix_nano else None


def day(moment: datetime) -> date:
    return moment.date()


def resource_columns(resource: Resource) -> dict[str, Any]:
    """The columns Logfire derives from an OTLP resource, identical for every signal."""
    values = attributes(resource.attributes)
    environment = values.get("deployment.environment.name", values.get("deployment.environment"))
    return {
        "service_name": str(values.get("service.name") or "unknown_service"),
        "service_namespace": text(values.get("service.namespace")),
        "service_version": text(values.get("service.version")),
        "service_instance_id": text(values.get("service.instance.id")),
        "deployment_environment": text(environment),
        "telemetry_sdk_language": text(values.get("telemetry.sdk.language")),
        "telemetry_sdk_name": text(values.get("telemetry.sdk.name")),
        "telemetry_sdk_version": text(values.get("telemetry.sdk.version")),
        "process_pid": integer(values.get("process.pid")),
        "otel_resource_attributes": to_json(values),
    }


def scope_columns(scope: InstrumentationScope) -> dict[str, Any]:
    return {
        "otel_scope_name": scope.name or None,
        "otel_scope_version": scope.version or None,
        "otel_scope_attributes": to_json(attributes(scope.attributes)),
    }


def first(values: Mapping[str, Any], *keys: str) -> Any:
    """The value of the first key present (OTel renamed many attributes over the years)."""
    for key in keys:
        if values.get(key) is not None:
            return values[key]
    return None


def text(value: Any) -> str | None:
    return None if value is None else str(value)


def integer(value: Any) -> int | None:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None
