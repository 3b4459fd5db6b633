"""Deterministic synthetic telemetry, shaped like what Logfire stores for a busy fleet.

`generate_records` makes traces of nested spans with logs at every level, exceptions, HTTP
spans, a few pending spans, heavy-tailed durations and bursts where thousands of rows share
one start timestamp (the case that defeats naive time-window paging). `records_at` makes
plain valid rows at exactly the timestamps a test asks for. The same seed always gives the
same table. Ids are unique within one call; use different seeds for tables that are stored
together.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.server.synthetic_columns import (
    I64,
    LOCAL_PROJECT_ID,
    assemble,
    constant,
    created_at,
    day_of,
    hex_ids,
    id_offset,
    joined,
    masked,
    micros,
    mix64,
    pick,
    service_columns,
    service_weights,
    timestamps,
    utc_now_us,
)
from pipelines.server.synthetic_metrics import generate_metrics

__all__ = ["generate_metrics", "generate_records", "records_at"]

_SPAN, _LOG, _PENDING = 0, 1, 2
# Logfire accepts spans that started up to 24 hours before they are ingested.
MAX_LATENESS_US = 24 * 3600 * 1_000_000
_KINDS = pa.array(["span", "log", "pending_span"])

# (span name, HTTP method, route); spans without a method are internal work.
_SPAN_NAMES = (
    ("GET /api/items/{item_id}", "GET", "/api/items/{item_id}"),
    ("POST /api/orders", "POST", "/api/orders"),
    ("GET /api/search", "GET", "/api/search"),
    ("db.query", None, None),
    ("cache.get", None, None),
    ("render template {name}", None, None),
    ("charge card", None, None),
    ("process job {job_id}", None, None),
)
_LOG_TEMPLATES = (
    "user {user_id} logged in",
    "retrying request {request_id}",
    "cache miss for key {key}",
    "payment {payment_id} declined",
    "job {job_id} finished",
)
# Logfire's level numbers (OTel severity numbers): trace, debug, info, notice, warn, error, fatal.
_LOG_LEVELS = np.array([1, 5, 9, 10, 13, 17, 21], dtype=np.int32)
_LOG_LEVEL_WEIGHTS = (0.05, 0.15, 0.45, 0.05, 0.15, 0.12, 0.03)
_EXCEPTIONS = (
    ("ValueError", "invalid literal for int() with base 10: 'abc'"),
    ("KeyError", "'customer_id'"),
    ("TimeoutError", "upstream did not answer within 5.0s"),
    ("httpx.ConnectError", "[Errno 111] Connection refused"),
)
_TAG_SETS = pa.array([None, ["api"], ["db", "slow"], ["checkout"]], pa.list_(pa.string()))
_REGIONS = pa.array(["eu-west-1", "us-east-1", "ap-south-1"])
_STATUS_CODES = np.array([200, 201, 404, 500], dtype=np.int32)
_JSON_SCHEMA = '{"type":"object","properties":{"user_id":{},"region":{}}}'


@dataclass(frozen=True)
class _Shape:
    """Where each row sits: its trace, its parent row (-1 for roots), kind and times."""

    trace: I64
    parent: I64
    kind: npt.NDArray[np.int8]
    start_us: I64
    end_us: I64


def generate_records(
    n_rows: int,
    start: datetime,
    end: datetime,
    *,
    seed: int = 0,
    services: int = 12,
    bursts: int = 3,
    burst_rows: int | None = None,
    now: datetime | None = None,
    late_fraction: float = 0.0,
    project_id: str = LOCAL_PROJECT_ID,
) -> pa.Table:
    """`n_rows` rows of `records` with start timestamps in `[start, end)`.

    `bursts` timestamps each carry `burst_rows` rows (default: 0.5 % of the rows, so
    thousands in a million). `created_at` never passes `now` (default: the real time),
    except for the `late_fraction` of rows that arrive late: long spans and delayed
    ingestion, stored between a minute and 24 hours after their start (Logfire's limit),
    which a server only shows once its clock reaches their `created_at`.
    """
    if not 0.0 <= late_fraction <= 1.0:
        raise ValueError(f"late_fraction must be between 0 and 1, got {late_fraction}")
    rng = np.random.default_rng(seed)
    shape = _traces(rng, n_rows, micros(start), micros(end))
    shape = _with_bursts(rng, shape, bursts, n_rows // 200 if burst_rows is None else burst_rows)
    shape, delays = _with_late_rows(rng, shape, late_fraction)
    return _records(
        rng, shape, services=services, now=now, project_id=project_id, late_delays=delays
    )


def records_at(
    start_timestamps: pa.Array | Sequence[datetime],
    *,
    seed: int = 0,
    services: int = 3,
    now: datetime | None = None,
    project_id: str = LOCAL_PROJECT_ID,
) -> pa.Table:
    """One root span per given start timestamp (exactly those, in order), unique ids."""
    values = pa.array(start_timestamps, type=pa.timestamp("us", tz="UTC"))
    if values.null_count:
        raise ValueError("records_at needs a start timestamp for every row, got nulls")
    rng = np.random.default_rng(seed)
    start_us = values.cast(pa.int64()).to_numpy().astype(np.int64)
    count = len(start_us)
    shape = _Shape(
        trace=np.arange(count, dtype=np.int64),
        parent=np.full(count, -1, dtype=np.int64),
        kind=np.zeros(count, dtype=np.int8),
        start_us=start_us,
        end_us=start_us + _durations_us(rng, count),
    )
    return _records(rng, shape, services=services, now=now, project_id=project_id)


def _traces(rng: np.random.Generator, n_rows: int, start_us: int, end_us: int) -> _Shape:
    if end_us <= start_us:
        raise ValueError("the window must end after it starts")
    # Trace sizes are geometric (mean 4, up to 50 spans): most traces small, some deep.
    sizes = np.minimum(rng.geometric(0.25, size=n_rows // 2 + 1), 50)
    count = int(np.searchsorted(np.cumsum(sizes), n_rows)) + 1
    sizes = sizes[:count]
    sizes[-1] -= int(sizes.sum()) - n_rows
    trace = np.repeat(np.arange(count, dtype=np.int64), sizes)
    first_row = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)[trace]
    position = np.arange(n_rows, dtype=np.int64) - first_row
    # Each child hangs off a random earlier row of its trace, which makes nested trees.
    parent = first_row + (rng.random(n_rows) * position).astype(np.int64)
    parent[position == 0] = -1

    choice = rng.random(n_rows)
    kind = np.where(choice < 0.30, _LOG, np.where(choice < 0.32, _PENDING, _SPAN))
    kind = np.where(position == 0, _SPAN, kind).astype(np.int8)

    root_start = rng.integers(start_us, end_us, size=count)[trace]
    root_duration = _durations_us(rng, count)[trace]
    offset = (rng.random(n_rows) * root_duration).astype(np.int64)
    offset[position == 0] = 0
    start = np.minimum(root_start + offset, end_us - 1)
    # A child ends before its root ends, except that the tail of durations stays heavy.
    duration = np.minimum(_durations_us(rng, n_rows), root_duration - offset)
    duration = np.where(position == 0, root_duration, duration)
    duration = np.where(kind == _SPAN, duration, 0)
    return _Shape(trace, parent, kind, start, start + duration)


def _with_bursts(rng: np.random.Generator, shape: _Shape, bursts: int, per_burst: int) -> _Shape:
    candidates = np.flatnonzero(shape.parent >= 0)
    total = min(bursts * per_burst, len(candidates))
    if total == 0:
        return shape
    rows = rng.choice(candidates, size=total, replace=False)
    moments = rng.integers(shape.start_us.min(), shape.start_us.max() + 1, size=bursts)
    start = shape.start_us.copy()
    start[rows] = np.repeat(moments, per_burst)[:total]
    kind = shape.kind.copy()
    # Bursts are logs (a flood of identical log lines), so their end equals their start.
    kind[rows] = _LOG
    end = np.where(kind == _SPAN, np.maximum(shape.end_us, start), start)
    return _Shape(shape.trace, shape.parent, kind, start, end)


def _with_late_rows(
    rng: np.random.Generator, shape: _Shape, fraction: float
) -> tuple[_Shape, I64 | None]:
    """Pick late rows; return the shape (late spans made long) and each row's delay or -1."""
    if fraction == 0.0:
        return shape, None
    count = len(shape.kind)
    late = rng.random(count) < fraction
    delays = np.where(late, rng.integers(60_000_000, MAX_LATENESS_US, size=count), -1)
    # A late span is a long one: Logfire writes its row when it ends, just before ingestion.
    long_end = shape.start_us + np.maximum(delays - 1_000, 0)
    end = np.where(late & (shape.kind == _SPAN), np.maximum(shape.end_us, long_end), shape.end_us)
    return _Shape(shape.trace, shape.parent, shape.kind, shape.start_us, end), delays


def _durations_us(rng: np.random.Generator, count: int) -> I64:
    # Log-normal with a median of ~50 ms and a tail into minutes, capped at ten minutes.
    seconds = np.minimum(rng.lognormal(mean=-3.0, sigma=1.6, size=count), 600.0)
    return (seconds * 1_000_000).astype(np.int64) + 1


def _records(
    rng: np.random.Generator,
    shape: _Shape,
    *,
    services: int,
    now: datetime | None,
    project_id: str,
    late_delays: I64 | None = None,
) -> pa.Table:
    count = len(shape.kind)
    now_us = utc_now_us() if now is None else micros(now)
    ingested = created_at(shape.end_us, rng, now_us)
    if late_delays is not None:
        # Late rows keep their future `created_at`: the server hides them until then.
        late = pa.array(late_delays >= 0)
        ingested = pc.if_else(late, timestamps(shape.start_us + late_delays), ingested)
    trace_word = mix64(shape.trace.astype(np.uint64) + id_offset(rng))
    trace_id = hex_ids(trace_word, mix64(trace_word))
    span_word = mix64(np.arange(count, dtype=np.uint64) + id_offset(rng))
    span_id = hex_ids(span_word)
    parent_mask = pa.array(shape.parent < 0)
    parent_span_id = pc.if_else(
        parent_mask,
        pa.scalar(None, pa.string()),
        pc.take(span_id, pa.array(np.maximum(shape.parent, 0))),
    )

    is_span = shape.kind == _SPAN
    is_log = shape.kind == _LOG
    span_name_index = rng.integers(0, len(_SPAN_NAMES), size=count)
    template_index = rng.integers(0, len(_LOG_TEMPLATES), size=count)
    number = pa.array(rng.integers(1, 100_000, size=count)).cast(pa.string())

    span_names = pick(pa.array([name for name, _, _ in _SPAN_NAMES]), span_name_index)
    templates = pick(pa.array(_LOG_TEMPLATES), template_index)
    span_name = pc.if_else(pa.array(is_log), templates, span_names)
    log_message = pc.replace_substring_regex(templates, r"\{[a-z_]+\}", "")
    log_message = joined(log_message, number)
    message = pc.if_else(pa.array(is_log), log_message, span_names)

    level = np.where(is_log, rng.choice(_LOG_LEVELS, size=count, p=_LOG_LEVEL_WEIGHTS), 9)
    failed = is_span & (rng.random(count) < 0.02)
    level = np.where(failed, 17, level).astype(np.int32)
    exception_index = rng.integers(0, len(_EXCEPTIONS), size=count)
    exception_type = masked(pick(pa.array([t for t, _ in _EXCEPTIONS]), exception_index), failed)
    exception_message = masked(pick(pa.array([m for _, m in _EXCEPTIONS]), exception_index), failed)
    stacktrace = joined(
        'Traceback (most recent call last):\n  File "app.py", line 42, in handler\n',
        exception_type,
        ": ",
        exception_message,
    )
    events = joined(
        '[{"name": "exception", "attributes": {"exception.type": "',
        exception_type,
        '", "exception.escaped": "False"}}]',
    )

    is_http = is_span & np.isin(span_name_index, [0, 1, 2])
    method = pick(pa.array([m for _, m, _ in _SPAN_NAMES], pa.string()), span_name_index)
    route = pick(pa.array([r for _, _, r in _SPAN_NAMES], pa.string()), span_name_index)
    path = pc.replace_substring_regex(route, r"\{[a-z_]+\}", "17")
    status = _STATUS_CODES[rng.choice(4, size=count, p=(0.85, 0.05, 0.07, 0.03))]

    start = timestamps(shape.start_us)
    service_of_trace = rng.choice(
        services, size=int(shape.trace.max(initial=0)) + 1, p=service_weights(services)
    )
    columns = {
        **service_columns(rng, service_of_trace[shape.trace], services),
        "project_id": constant(project_id, count),
        "trace_id": trace_id,
        "span_id": span_id,
        "parent_span_id": parent_span_id,
        "kind": pick(_KINDS, shape.kind),
        "start_timestamp": start,
        "end_timestamp": timestamps(shape.end_us),
        "duration": masked(pa.array((shape.end_us - shape.start_us) / 1e6), is_span),
        "day": day_of(start),
        "created_at": ingested,
        "level": pa.array(level),
        "span_name": span_name,
        "message": message,
        "tags": pick(_TAG_SETS, rng.integers(0, len(_TAG_SETS), size=count)),
        "attributes": joined(
            '{"user_id": ',
            number,
            ', "region": "',
            pick(_REGIONS, rng.integers(0, 3, size=count)),
            '"}',
        ),
        "attributes_json_schema": constant(_JSON_SCHEMA, count),
        "otel_status_code": pc.if_else(pa.array(failed), "ERROR", "UNSET"),
        "otel_status_message": exception_message,
        "otel_events": masked(events, failed),
        "is_exception": pa.array(failed),
        "exception_type": exception_type,
        "exception_message": exception_message,
        "exception_stacktrace": masked(stacktrace, failed),
        "http_method": masked(method, is_http),
        "http_route": masked(route, is_http),
        "http_response_status_code": masked(pa.array(status), is_http),
        "url_path": masked(path, is_http),
        "url_full": masked(joined("https://shop.example.com", path), is_http),
    }
    return assemble("records", columns, count)
