"""The Starlette application: Logfire's query API and OTLP intake over one `TelemetryStore`.

Routes (tokens: R = read token, W = write token, raw or `Bearer`):
  POST /v2/query            R  SQL, JSON / Arrow stream / CSV / NDJSON
  GET  /v1/query            R  SQL, column- or row-oriented JSON / Arrow stream / CSV
  GET  /v1/read-token-info  R
  GET  /v1/schemas          R  the tables' columns, as Logfire describes them
  GET  /v1/info             W  what the SDK asks at configure time
  POST /v1/traces|logs|metrics  W  OTLP protobuf or JSON, gzip or plain
"""

import gzip
import hmac
import logging
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from pipelines.schemas import raw_schemas_document
from pipelines.server import formats
from pipelines.server.errors import ApiError, error_response, invalid_token
from pipelines.server.faults import Faults
from pipelines.server.otlp import SIGNALS, convert
from pipelines.server.otlp_common import JSON, PROTOBUF, OtlpDecodeError
from pipelines.server.query_endpoints import QueryLog, query_v1, query_v2
from pipelines.server.store import SchemaMismatch, TelemetryStore
from pipelines.server.synthetic_columns import LOCAL_PROJECT_ID

logger = logging.getLogger(__name__)

Handler = Callable[[Request], Awaitable[Response]]

# OTLP exporters batch; anything far larger than this is a client bug, not telemetry.
MAX_OTLP_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class Project:
    """Who the local server claims to be; Logfire answers these in token and info calls."""

    project_id: str = LOCAL_PROJECT_ID
    project_name: str = "local"
    organization_id: str = "0b9e4c6a-1f2d-4a3b-8c7d-6e5f4a3b2c1d"
    organization_name: str = "local"
    token_id: str = "5d4c3b2a-1f0e-4d9c-8b7a-6f5e4d3c2b1a"


def create_app(
    store: TelemetryStore,
    *,
    read_token: str,
    write_token: str,
    faults: Faults | None = None,
    project: Project | None = None,
) -> Starlette:
    """The app; `app.state` holds `store`, `faults` and `query_log` for tests to reach."""
    if not read_token or not write_token:
        raise ValueError("the local server needs a read token and a write token")
    project = project or Project()

    def guarded(handler: Handler, token: str) -> Handler:
        async def endpoint(request: Request) -> Response:
            try:
                _check_token(request, token)
                return await handler(request)
            except ApiError as error:
                return error_response(error, request.headers.get("accept"))

        return endpoint

    async def read_token_info(request: Request) -> Response:
        return _json(
            {
                "token_id": project.token_id,
                "organization_id": project.organization_id,
                "organization_subscription_plan": "free",
                "project_id": project.project_id,
                "organization_name": project.organization_name,
                "project_name": project.project_name,
            }
        )

    async def schemas(request: Request) -> Response:
        return _json(raw_schemas_document())

    async def info(request: Request) -> Response:
        base = str(request.base_url).rstrip("/")
        project_url = f"{base}/{project.organization_name}/{project.project_name}"
        return _json({"project_name": project.project_name, "project_url": project_url})

    def otlp(signal: str) -> Handler:
        async def ingest(request: Request) -> Response:
            return await _ingest(request, signal, project.project_id)

        return ingest

    routes = [
        Route("/v2/query", guarded(query_v2, read_token), methods=["POST"]),
        Route("/v1/query", guarded(query_v1, read_token), methods=["GET"]),
        Route("/v1/read-token-info", guarded(read_token_info, read_token), methods=["GET"]),
        Route("/v1/schemas", guarded(schemas, read_token), methods=["GET"]),
        Route("/v1/info", guarded(info, write_token), methods=["GET"]),
        *(
            Route(f"/v1/{signal}", guarded(otlp(signal), write_token), methods=["POST"])
            for signal in SIGNALS
        ),
    ]
    app = Starlette(routes=routes)
    app.state.store = store
    app.state.faults = faults or Faults()
    app.state.query_log = QueryLog()
    return app


def _check_token(request: Request, expected: str) -> None:
    header = request.headers.get("authorization", "")
    scheme, _, rest = header.partition(" ")
    token = rest.strip() if scheme.lower() == "bearer" else header.strip()
    if not hmac.compare_digest(token.encode(), expected.encode()):
        raise invalid_token()


async def _ingest(request: Request, signal: str, project_id: str) -> Response:
    store: TelemetryStore = request.app.state.store
    content_type = request.headers.get("content-type", PROTOBUF)
    body = _decompress(await request.body(), request.headers.get("content-encoding", ""))

    def store_rows() -> int:
        table, rows = convert(
            signal, body, content_type, project_id=project_id, created_at=store.clock()
        )
        return store.append(table, rows)

    try:
        # Off the event loop: decoding and (with a data dir) writing Parquet take a while.
        added = await run_in_threadpool(store_rows)
    except OtlpDecodeError as exc:
        media = content_type.split(";", 1)[0].strip().lower()
        raise ApiError(415 if media not in (PROTOBUF, JSON) else 400, str(exc)) from exc
    except (SchemaMismatch, pa.ArrowInvalid) as exc:
        # E.g. a span without a trace id: Logfire's NOT NULL columns cannot hold it.
        raise ApiError(400, f"cannot store /v1/{signal} data: {exc}") from exc
    logger.debug("stored %s rows from /v1/%s", added, signal)
    if content_type.startswith(JSON):
        return _json({})
    # An empty Export*ServiceResponse (no partial success to report) serialises to no bytes.
    return Response(b"", 200, media_type=PROTOBUF)


def _decompress(body: bytes, encoding: str) -> bytes:
    encoding = encoding.strip().lower()
    try:
        if encoding == "gzip":
            data = gzip.decompress(body)
        elif encoding == "deflate":
            data = zlib.decompress(body)
        elif encoding in ("", "identity"):
            data = body
        else:
            raise ApiError(415, f"unsupported content-encoding {encoding!r}; use gzip or deflate")
    except (OSError, zlib.error) as exc:
        raise ApiError(400, f"cannot decompress the {encoding} body: {exc}") from exc
    if len(data) > MAX_OTLP_BYTES:
        raise ApiError(413, f"OTLP body of {len(data)} bytes exceeds {MAX_OTLP_BYTES}")
    return data


def _json(document: Any) -> Response:
    return Response(formats.dumps(document), 200, media_type=formats.JSON)
