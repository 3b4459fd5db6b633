"""Delta `add` action statistics for a Parquet file we wrote ourselves.

delta-rs computes these when it writes a file; the Delta writer here commits files that it
wrote (sorted, sized like the Parquet output), so it supplies them: row count, null counts,
and min / max per column, which is what lets readers skip files outside a time filter.

The values come from the file's row-group statistics, so nothing is read twice. They are
bounds, not necessarily exact values: timestamps are stored in milliseconds (as Delta
writers do), the minimum rounded down and the maximum rounded up, so a reader that skips a
file on them never skips a row it wanted. A column whose bounds cannot be stated exactly
enough (long strings, NaN, nested types) gets a null count only, or nothing.
"""

import json
import math
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

# Longer strings get no min / max: a JSON column's values would bloat every log entry.
MAX_STRING_STATS_CHARS = 32
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
UNITS_PER_MS = {"ms": 1, "us": 1_000, "ns": 1_000_000}


def file_stats(metadata: pq.FileMetaData, schema: pa.Schema) -> str:
    """The `stats` JSON of a Delta add action for a file with this footer."""
    leaves = {metadata.schema.column(i).path: i for i in range(metadata.num_columns)}
    minimum: dict[str, Any] = {}
    maximum: dict[str, Any] = {}
    nulls: dict[str, int] = {}
    for field in schema:
        index = leaves.get(field.name)  # a top-level primitive column is its own leaf
        if index is None:
            continue
        chunks = [
            metadata.row_group(g).column(index).statistics for g in range(metadata.num_row_groups)
        ]
        if chunks and all(s is not None and s.has_null_count for s in chunks):
            nulls[field.name] = sum(int(s.null_count) for s in chunks)
        bounds = _bounds(field.type, chunks)
        if bounds is not None:
            minimum[field.name], maximum[field.name] = bounds
    return json.dumps(
        {
            "numRecords": metadata.num_rows,
            "minValues": minimum,
            "maxValues": maximum,
            "nullCount": nulls,
        }
    )


def _bounds(kind: pa.DataType, chunks: list[Any]) -> tuple[Any, Any] | None:
    """The column's (min, max) over all row groups in Delta's JSON form, if they are known."""
    # A row group of only nulls has no min / max but does not widen the bounds. Any other
    # row group without them (Arrow leaves out string values over 4 KB) makes the column's
    # bounds unknown: bounds from the other groups would let readers skip matching rows.
    if any(s is None or (not s.has_min_max and s.num_values > 0) for s in chunks):
        return None
    known = [s for s in chunks if s.has_min_max]
    if not known:
        return None
    if pa.types.is_timestamp(kind):
        return _timestamp_bounds(kind, known)
    low, high = min(s.min for s in known), max(s.max for s in known)
    if pa.types.is_integer(kind) or pa.types.is_boolean(kind):
        return low, high
    if pa.types.is_floating(kind):
        return (low, high) if math.isfinite(low) and math.isfinite(high) else None
    if pa.types.is_date32(kind) and isinstance(low, date):
        return low.isoformat(), high.isoformat()
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        short = len(low) <= MAX_STRING_STATS_CHARS and len(high) <= MAX_STRING_STATS_CHARS
        return (low, high) if short else None
    return None


def _timestamp_bounds(kind: pa.TimestampType, known: list[Any]) -> tuple[str, str] | None:
    """Millisecond bounds (min rounded down, max up) in the form Delta writers use."""
    if kind.tz is None or kind.unit not in UNITS_PER_MS:
        return None  # timestamp_ntz stats have another form; seconds never occur here
    per_ms = UNITS_PER_MS[kind.unit]
    low = min(int(s.min_raw) for s in known) // per_ms
    high = -(-max(int(s.max_raw) for s in known) // per_ms)
    return _iso_ms(low), _iso_ms(high)


def _iso_ms(milliseconds: int) -> str:
    moment = EPOCH + timedelta(milliseconds=milliseconds)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"
