"""`POST /v2/query` and `GET /v1/query`: run SQL on the store, answer in the asked format."""

import asyncio
import threading
from dataclasses import dataclass, field, replace
from datetime import datetime

import pyarrow as pa
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from pipelines.server import formats
from pipelines.server.errors import ApiError, accept_list
from pipelines.server.faults import Fault, Faults
from pipelines.server.store import QueryFailed, QueryScope, TelemetryStore
from pipelines.server.validation import parse_v1_params, parse_v2_body

V2_FORMATS = (formats.JSON, formats.ARROW_STREAM, formats.CSV, formats.NDJSON)
V1_FORMATS = (formats.JSON, formats.ARROW_STREAM, formats.CSV)


@dataclass(frozen=True)
class QueryLogEntry:
    """One query request as the server saw it; tests use the log to count and inspect calls."""

    endpoint: str
    sql: str
    min_timestamp: datetime | None
    max_timestamp: datetime | None
    limit: int
    media_type: str
    status: int
    rows: int | None


@dataclass
class QueryLog:
    """Every query request, in order (thread-safe)."""

    entries: list[QueryLogEntry] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, entry: QueryLogEntry) -> None:
        with self._lock:
            self.entries.append(entry)

    def clear(self) -> None:
        with self._lock:
            self.entries.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self.entries)


def negotiate(accept: str | None, offered: tuple[str, ...]) -> str:
    """The answer's media type: the client's best offered type, JSON when it names none."""
    wanted = [(media, q) for media, q in accept_list(accept) if media != formats.PROBLEM_JSON]
    if not wanted:
        return formats.JSON
    for media, quality in wanted:
        if quality <= 0:
            continue
        if media in offered:
            return media
        if media in ("*/*", "application/*"):
            return formats.JSON
    raise ApiError(406, f"cannot answer with {accept!r}; supported: {', '.join(offered)}")


async def query_v2(request: Request) -> Response:
    media_type = negotiate(request.headers.get("accept"), V2_FORMATS)
    body = parse_v2_body(await request.body())
    scope = QueryScope(
        body.min_timestamp, body.max_timestamp, body.deployment_environment, body.timezone
    )
    entry = _entry("/v2/query", body.sql, scope, body.limit, media_type)
    fault = await _apply_fault(request, entry)
    table = await _run(request, entry, scope)
    explain = None
    if body.explain:
        store: TelemetryStore = request.app.state.store
        explain = await run_in_threadpool(store.explain, body.sql, scope=scope, limit=body.limit)
    if media_type == formats.NDJSON:
        cut = table.num_rows // 2 if fault and fault.broken_stream else None
        lines = formats.ndjson_lines(table, explain=explain, fail_after_rows=cut)
        return StreamingResponse(lines, media_type=formats.NDJSON)
    if media_type == formats.JSON:
        document: dict[str, object] = {}
        if body.include_schema:
            fields = [formats.field_description(f) for f in table.schema]
            document["schema"] = {"fields": fields, "metadata": {}}
        document["data"] = formats.json_rows(table)
        document.update(explain or {})
        return _answer(formats.dumps(document), media_type, fault)
    return _tabular(table, media_type, fault, {})


async def query_v1(request: Request) -> Response:
    media_type = negotiate(request.headers.get("accept"), V1_FORMATS)
    params = parse_v1_params(dict(request.query_params))
    scope = QueryScope(params.min_timestamp, params.max_timestamp)
    entry = _entry("/v1/query", params.sql, scope, params.limit, media_type)
    fault = await _apply_fault(request, entry)
    table = await _run(request, entry, scope)
    if media_type == formats.JSON:
        columns = [formats.field_description(f, "datatype") for f in table.schema]
        if params.json_rows or params.row_oriented:
            document = {"columns": columns, "rows": formats.json_rows(table)}
        else:
            values = formats.json_columns(table)
            document = {
                "columns": [{**c, "values": v} for c, v in zip(columns, values, strict=True)]
            }
        return _answer(formats.dumps(document), media_type, fault)
    disposition = {"content-disposition": 'attachment; filename="query_results.csv"'}
    return _tabular(table, media_type, fault, disposition if media_type == formats.CSV else {})


def _entry(endpoint: str, sql: str, scope: QueryScope, limit: int, media: str) -> QueryLogEntry:
    return QueryLogEntry(
        endpoint, sql, scope.min_timestamp, scope.max_timestamp, limit, media, 200, None
    )


async def _run(request: Request, entry: QueryLogEntry, scope: QueryScope) -> pa.Table:
    store: TelemetryStore = request.app.state.store
    log: QueryLog = request.app.state.query_log
    try:
        table = await run_in_threadpool(store.query, entry.sql, limit=entry.limit, scope=scope)
    except QueryFailed as exc:
        log.add(replace(entry, status=400))
        raise ApiError(400, exc.message) from exc
    log.add(replace(entry, rows=table.num_rows))
    return table


async def _apply_fault(request: Request, entry: QueryLogEntry) -> Fault | None:
    faults: Faults = request.app.state.faults
    fault = faults.take()
    if fault is None:
        return None
    if fault.latency:
        await asyncio.sleep(fault.latency)
    if fault.status is not None:
        request.app.state.query_log.add(replace(entry, status=fault.status))
        problem_type, title, retryable = fault.problem
        raise ApiError(
            fault.status,
            fault.detail or f"{title} (injected fault)",
            problem_type=problem_type,
            title=title,
            retryable=retryable,
            retry_after=fault.retry_after,
        )
    return fault


def _tabular(
    table: pa.Table, media_type: str, fault: Fault | None, headers: dict[str, str]
) -> Response:
    if media_type == formats.ARROW_STREAM:
        return _answer(formats.arrow_stream(table), media_type, fault, headers)
    return _answer(formats.csv_text(table), "text/csv; charset=utf-8", fault, headers)


def _answer(
    content: bytes, media_type: str, fault: Fault | None, headers: dict[str, str] | None = None
) -> Response:
    if fault is not None and fault.broken_stream:
        # A complete HTTP answer whose payload stops half-way, like a stream cut by a proxy.
        content = content[: len(content) // 2]
    return Response(content, 200, headers, media_type)
