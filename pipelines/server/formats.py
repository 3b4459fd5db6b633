"""Query results in the wire formats of the Logfire Query API.

JSON describes columns with arrow-rs's serde form of Arrow data types (`"Utf8"`,
`{"Timestamp": ["Microsecond", "UTC"]}`, ...) because that is what Logfire's Rust backend
emits, and it writes timestamps as RFC 3339 strings with microseconds and `Z`. CSV always has
a header, writes lists as JSON arrays and booleans in lower case. Arrow is an IPC *stream*.
"""

import io
import json
from collections.abc import Iterator
from datetime import date, datetime, time
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

JSON = "application/json"
ARROW_STREAM = "application/vnd.apache.arrow.stream"
CSV = "text/csv"
NDJSON = "application/x-ndjson"
PROBLEM_JSON = "application/problem+json"

# NDJSON answers carry rows in chunks of this many, one line each.
NDJSON_CHUNK_ROWS = 1000

_UNITS = {"s": "Second", "ms": "Millisecond", "us": "Microsecond", "ns": "Nanosecond"}
_SIMPLE_TYPES: dict[pa.DataType, str] = {
    pa.null(): "Null",
    pa.bool_(): "Boolean",
    pa.int8(): "Int8",
    pa.int16(): "Int16",
    pa.int32(): "Int32",
    pa.int64(): "Int64",
    pa.uint8(): "UInt8",
    pa.uint16(): "UInt16",
    pa.uint32(): "UInt32",
    pa.uint64(): "UInt64",
    pa.float16(): "Float16",
    pa.float32(): "Float32",
    pa.float64(): "Float64",
    pa.date32(): "Date32",
    pa.date64(): "Date64",
    pa.string(): "Utf8",
    pa.large_string(): "LargeUtf8",
    pa.string_view(): "Utf8View",
    pa.binary(): "Binary",
    pa.large_binary(): "LargeBinary",
}


def data_type(arrow_type: pa.DataType, key: str = "data_type") -> Any:
    """arrow-rs's serde representation of an Arrow type (`key` names nested types' field)."""
    if arrow_type in _SIMPLE_TYPES:
        return _SIMPLE_TYPES[arrow_type]
    if pa.types.is_timestamp(arrow_type):
        return {"Timestamp": [_UNITS[arrow_type.unit], arrow_type.tz]}
    if pa.types.is_duration(arrow_type):
        return {"Duration": _UNITS[arrow_type.unit]}
    if pa.types.is_time(arrow_type):
        return {type(arrow_type).__name__.replace("Type", ""): _UNITS[arrow_type.unit]}
    if pa.types.is_decimal(arrow_type):
        name = f"Decimal{arrow_type.bit_width}"
        return {name: [arrow_type.precision, arrow_type.scale]}
    if pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type):
        name = "List" if pa.types.is_list(arrow_type) else "LargeList"
        return {name: field_description(arrow_type.value_field, key, nested=True)}
    if pa.types.is_struct(arrow_type):
        fields = [arrow_type.field(i) for i in range(arrow_type.num_fields)]
        return {"Struct": [field_description(f, key, nested=True) for f in fields]}
    if pa.types.is_dictionary(arrow_type):
        return {
            "Dictionary": [
                data_type(arrow_type.index_type, key),
                data_type(arrow_type.value_type, key),
            ]
        }
    if pa.types.is_fixed_size_binary(arrow_type):
        return {"FixedSizeBinary": arrow_type.byte_width}
    raise NotImplementedError(f"no arrow-rs serde form for Arrow type {arrow_type} yet")


def field_description(field: pa.Field, key: str = "data_type", *, nested: bool = False) -> Any:
    """A field as the v2 API (`key="data_type"`) or the v1 API (`key="datatype"`) shows it."""
    described: dict[str, Any] = {
        "name": field.name,
        key: data_type(field.type, key),
        "nullable": field.nullable,
    }
    if nested and key == "data_type":
        # arrow-rs serialises every Field in full; the v1 API leaves these keys out.
        described.update(dict_id=0, dict_is_ordered=False, metadata={})
    return described


def json_rows(table: pa.Table) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = _json_ready(table).to_pylist()
    return rows


def json_columns(table: pa.Table) -> list[list[Any]]:
    ready = _json_ready(table)
    return [column.to_pylist() for column in ready.columns]


def dumps(document: Any) -> bytes:
    return json.dumps(document, separators=(",", ":"), default=_json_default).encode()


def arrow_stream(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


def csv_text(table: pa.Table) -> bytes:
    columns = []
    for column in table.columns:
        if _is_nested(column.type):
            # pyarrow's CSV writer has no nested types; Logfire writes them as JSON.
            texts = [None if v is None else dumps(v).decode() for v in column.to_pylist()]
            columns.append(pa.array(texts, pa.string()))
        else:
            columns.append(_temporal_as_text(column))
    sink = io.BytesIO()
    pa_csv.write_csv(pa.Table.from_arrays(columns, names=table.column_names), sink)
    return sink.getvalue()


def ndjson_lines(
    table: pa.Table, *, explain: dict[str, str] | None = None, fail_after_rows: int | None = None
) -> Iterator[bytes]:
    """The NDJSON answer line by line; `fail_after_rows` ends with an error line (faults)."""
    fields = [field_description(f) for f in table.schema]
    yield dumps({"type": "schema", "fields": fields, "metadata": {}}) + b"\n"
    if explain is not None:
        yield dumps({"type": "explain", **explain}) + b"\n"
    for offset in range(0, table.num_rows, NDJSON_CHUNK_ROWS):
        if fail_after_rows is not None and offset >= fail_after_rows:
            message = "the query was interrupted (injected fault)"
            yield dumps({"type": "error", "message": message}) + b"\n"
            return
        chunk = table.slice(offset, NDJSON_CHUNK_ROWS)
        yield dumps({"type": "data", "rows": json_rows(chunk)}) + b"\n"
    yield dumps({"type": "end", "row_count": table.num_rows}) + b"\n"


def _json_ready(table: pa.Table) -> pa.Table:
    columns = [_temporal_as_text(column) for column in table.columns]
    return pa.Table.from_arrays(columns, names=table.column_names)


def _temporal_as_text(column: pa.ChunkedArray) -> pa.ChunkedArray:
    kind = column.type
    if pa.types.is_timestamp(kind):
        if kind.tz is None:
            return pc.strftime(column, format="%Y-%m-%dT%H:%M:%S")
        # `%S` carries the fraction in the column's unit (microseconds for Logfire's columns).
        return pc.strftime(column.cast(pa.timestamp(kind.unit, "UTC")), format="%Y-%m-%dT%H:%M:%SZ")
    if pa.types.is_date(kind) or pa.types.is_time(kind):
        return column.cast(pa.string())
    return column


def _is_nested(kind: pa.DataType) -> bool:
    return bool(pa.types.is_nested(kind))


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    return str(value)
