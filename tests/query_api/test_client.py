"""The client's error handling and request shapes, over `httpx.MockTransport`."""

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypedDict, Unpack

import httpx
import pyarrow as pa
import pytest

from pipelines.query_api import (
    ApiVersion,
    InvalidRequestError,
    InvalidTokenError,
    QueryClient,
    QueryFailedError,
    RetryPolicy,
    ServerError,
    ThrottledError,
    UnexpectedResponseError,
    UnreachableError,
)

TOKEN = "pylf_v1_eu_s3cr3tT0k3nValue"
START = datetime(2026, 12, 1, 13, tzinfo=UTC)
END = datetime(2026, 12, 1, 14, tzinfo=UTC)
FAST = RetryPolicy(max_attempts=3, initial_wait=0.001, max_wait=0.01)


def arrow_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


class ClientOptions(TypedDict, total=False):
    """The keyword arguments of `QueryClient` that the tests set (the transport is the mock)."""

    base_url: str | None
    api_version: ApiVersion
    timeout: httpx.Timeout
    retry: RetryPolicy | None


def make_client(
    handler: Callable[[httpx.Request], httpx.Response], **kwargs: Unpack[ClientOptions]
) -> tuple[QueryClient, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    options: ClientOptions = {"retry": FAST, **kwargs}
    client = QueryClient(TOKEN, transport=httpx.MockTransport(record), **options)
    return client, seen


def test_base_url_follows_the_token_region() -> None:
    client, _ = make_client(lambda r: httpx.Response(200))
    assert client.base_url == "https://logfire-eu.pydantic.dev"
    assert QueryClient("no-prefix-token").base_url == "https://logfire-us.pydantic.dev"
    assert QueryClient(TOKEN, base_url="http://127.0.0.1:1/").base_url == "http://127.0.0.1:1"


def test_v2_posts_json_and_decodes_arrow() -> None:
    table = pa.table({"n": pa.array([1, 2], pa.int64())})
    client, seen = make_client(lambda r: httpx.Response(200, content=arrow_bytes(table)))
    result = client.query_arrow("SELECT n", min_timestamp=START, max_timestamp=END, limit=10)
    assert result.equals(table)
    request = seen[0]
    assert (request.method, request.url.path) == ("POST", "/v2/query")
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.headers["accept"].startswith("application/vnd.apache.arrow.stream")
    body = json.loads(request.content)
    assert body == {
        "sql": "SELECT n",
        "min_timestamp": "2026-12-01T13:00:00+00:00",
        "max_timestamp": "2026-12-01T14:00:00+00:00",
        "limit": 10,
    }


def test_v1_gets_with_query_parameters() -> None:
    payload = {
        "columns": [{"name": "n", "datatype": "Int64", "nullable": False}],
        "rows": [{"n": 1}],
    }
    client, seen = make_client(lambda r: httpx.Response(200, json=payload), api_version="v1")
    assert client.query_json_rows("SELECT n", min_timestamp=START) == [{"n": 1}]
    request = seen[0]
    assert (request.method, request.url.path) == ("GET", "/v1/query")
    assert request.url.params["json_rows"] == "true"
    assert request.url.params["sql"] == "SELECT n"


def test_v2_columns_are_transposed_from_rows() -> None:
    payload = {
        "schema": {"fields": [{"name": "a", "data_type": "Int64", "nullable": True}]},
        "data": [{"a": 1}, {"a": None}],
    }
    client, _ = make_client(lambda r: httpx.Response(200, json=payload))
    assert client.query_json_columns("SELECT a", min_timestamp=START) == {"a": [1, None]}


def test_naive_timestamps_are_refused_before_sending() -> None:
    client, seen = make_client(lambda r: httpx.Response(200))
    with pytest.raises(ValueError, match="timezone-aware"):
        client.query_csv("SELECT 1", min_timestamp=datetime(2026, 12, 1))
    assert seen == []


@pytest.mark.parametrize(
    ("status", "body", "error_type"),
    [
        pytest.param(400, {"detail": "column 'nope' not found"}, QueryFailedError, id="400"),
        pytest.param(422, {"detail": [{"msg": "limit too large"}]}, InvalidRequestError, id="422"),
        pytest.param(401, {"detail": "Invalid token"}, InvalidTokenError, id="401"),
        pytest.param(418, {"detail": "teapot"}, UnexpectedResponseError, id="418"),
    ],
)
def test_client_errors_are_raised_once_without_retry(
    status: int, body: object, error_type: type[Exception]
) -> None:
    client, seen = make_client(lambda r: httpx.Response(status, json=body))
    with pytest.raises(error_type) as info:
        client.query_arrow("SELECT 1", min_timestamp=START)
    assert len(seen) == 1
    assert client.stats.retries == 0
    assert TOKEN not in str(info.value)


def test_query_failure_carries_the_server_message() -> None:
    client, _ = make_client(
        lambda r: httpx.Response(400, json={"detail": "Schema error: No field named nope"})
    )
    with pytest.raises(QueryFailedError, match="No field named nope"):
        client.query_arrow("SELECT nope FROM records", min_timestamp=START)


def test_problem_json_error_details_are_read() -> None:
    problem = {
        "type": "https://logfire.dev/problems/query-failed",
        "title": "Query failed",
        "status": 400,
        "error_details": {"detail": "division by zero"},
    }
    client, _ = make_client(
        lambda r: httpx.Response(
            400, json=problem, headers={"content-type": "application/problem+json"}
        )
    )
    with pytest.raises(QueryFailedError, match="division by zero"):
        client.query_arrow("SELECT 1/0", min_timestamp=START)


def test_bad_token_message_names_region_and_host_but_not_the_token() -> None:
    client, _ = make_client(lambda r: httpx.Response(401, json={"detail": "Invalid token"}))
    with pytest.raises(InvalidTokenError) as info:
        client.read_token_info()
    message = str(info.value)
    assert "'eu' region" in message
    assert "https://logfire-eu.pydantic.dev" in message
    assert TOKEN not in message and TOKEN not in repr(client)


def test_throttling_is_retried_honouring_retry_after() -> None:
    answers = iter(
        [
            httpx.Response(429, headers={"retry-after": "0"}, json={"detail": "slow down"}),
            httpx.Response(503, json={"detail": "query timeout"}),
            httpx.Response(200, json={"organization_name": "o", "project_name": "p"}),
        ]
    )
    client, seen = make_client(lambda r: next(answers))
    assert client.read_token_info()["project_name"] == "p"
    assert len(seen) == 3
    assert client.stats.snapshot() == {
        "requests": 3,
        "retries": 2,
        "throttled": 1,
        "server_errors": 1,
    }


def test_retries_give_up_after_max_attempts() -> None:
    client, seen = make_client(lambda r: httpx.Response(429, json={"detail": "busy"}))
    with pytest.raises(ThrottledError, match="busy"):
        client.query_arrow("SELECT 1", min_timestamp=START)
    assert len(seen) == FAST.max_attempts


def test_a_truncated_arrow_stream_is_retried() -> None:
    whole = arrow_bytes(pa.table({"n": [1, 2, 3]}))
    answers = iter([httpx.Response(200, content=whole[:-20]), httpx.Response(200, content=whole)])
    client, seen = make_client(lambda r: next(answers))
    assert client.query_arrow("SELECT n", min_timestamp=START).num_rows == 3
    assert len(seen) == 2


def test_a_truncated_arrow_stream_that_persists_is_a_server_error() -> None:
    whole = arrow_bytes(pa.table({"n": [1, 2, 3]}))
    client, _ = make_client(lambda r: httpx.Response(200, content=whole[:10]))
    with pytest.raises(ServerError, match="Arrow stream"):
        client.query_arrow("SELECT n", min_timestamp=START)


def test_connection_errors_are_retried() -> None:
    calls = {"n": 0}

    def flaky(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if calls["n"] == 1:
            raise httpx.ConnectError("connection refused", request=request)
        return httpx.Response(200, text="n\n1\n")

    client, _ = make_client(flaky)
    assert client.query_csv("SELECT 1 AS n", min_timestamp=START) == "n\n1\n"
    assert client.stats.retries == 1


def test_an_unreachable_server_is_named_after_the_retries() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    client, seen = make_client(refuse, base_url="http://127.0.0.1:9")
    with pytest.raises(UnreachableError, match=r"could not reach .* http://127\.0\.0\.1:9"):
        client.query_arrow("SELECT 1", min_timestamp=START)
    assert len(seen) == FAST.max_attempts


def test_a_token_without_region_prefix_says_so() -> None:
    client = QueryClient(
        "garbage",
        transport=httpx.MockTransport(lambda r: httpx.Response(401, json={"detail": "x"})),
    )
    with pytest.raises(InvalidTokenError, match=r"no region prefix.*US host is assumed"):
        client.read_token_info()


def test_a_refused_token_at_an_explicit_base_url_blames_no_region() -> None:
    client, _ = make_client(
        lambda r: httpx.Response(401, json={"detail": "x"}), base_url="http://logfire.test"
    )
    with pytest.raises(InvalidTokenError, match="base URL was set explicitly") as info:
        client.read_token_info()
    assert "http://logfire.test" in str(info.value)
    assert "prefix points" not in str(info.value) and "'eu' region" in str(info.value)


def test_a_stream_cut_at_a_batch_boundary_is_not_trusted() -> None:
    schema = pa.schema([("n", pa.int64())])
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, schema) as writer:
        writer.write_batch(pa.record_batch([pa.array(range(10))], schema=schema))
        cut_at = sink.tell()
        writer.write_batch(pa.record_batch([pa.array(range(10, 20))], schema=schema))
    body = sink.getvalue().to_pybytes()[:cut_at]
    client, seen = make_client(lambda r: httpx.Response(200, content=body))
    with pytest.raises(ServerError, match="end-of-stream marker"):
        client.query_arrow("SELECT n", min_timestamp=START)
    assert len(seen) == FAST.max_attempts  # retried like any broken stream, then reported
