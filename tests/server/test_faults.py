"""Injected faults reach real clients as Logfire's own failures would."""

import time
from datetime import UTC, datetime

import httpx
import pyarrow as pa
import pytest
from logfire.query_client import LogfireQueryClient, QueryRateLimitedError, UnexpectedResponseError

from pipelines.server import LocalLogfireServer
from pipelines.server.synthetic import records_at

DAY = datetime(2024, 5, 1, tzinfo=UTC)
BODY = {"sql": "SELECT span_id FROM records", "min_timestamp": DAY.isoformat()}


def test_429_with_retry_after_for_the_next_requests_only(
    server: LocalLogfireServer, http: httpx.Client
) -> None:
    server.faults.inject(status=429, times=2, retry_after=1)
    for _ in range(2):
        response = http.post("/v2/query", json=BODY)
        assert response.status_code == 429
        assert response.headers["retry-after"] == "1"
    assert http.post("/v2/query", json=BODY).status_code == 200
    assert [entry.status for entry in server.query_log.entries] == [429, 429, 200]


def test_the_sdk_sees_rate_limits_and_timeouts_as_documented(server: LocalLogfireServer) -> None:
    server.faults.inject(status=429, retry_after=3)
    server.faults.inject(status=503)
    with LogfireQueryClient(server.read_token, base_url=server.base_url) as client:
        with pytest.raises(QueryRateLimitedError) as limited:
            client.query_json_rows(BODY["sql"], min_timestamp=DAY)
        assert limited.value.retry_after == 3
        assert limited.value.retryable is True
        with pytest.raises(UnexpectedResponseError) as timeout:
            client.query_json_rows(BODY["sql"], min_timestamp=DAY)
        assert timeout.value.problem_type is not None
        assert timeout.value.problem_type.endswith("/query-timeout")
        assert timeout.value.retryable is True


def test_500_without_problem_json_is_a_legacy_body(
    server: LocalLogfireServer, http: httpx.Client
) -> None:
    server.faults.inject(status=500)
    response = http.post("/v2/query", json=BODY)
    assert response.status_code == 500
    assert "detail" in response.json()


def test_latency_delays_the_answer(server: LocalLogfireServer, http: httpx.Client) -> None:
    server.faults.inject(latency=0.3)
    started = time.monotonic()
    assert http.post("/v2/query", json=BODY).status_code == 200
    assert time.monotonic() - started >= 0.3


def test_broken_arrow_stream_cannot_be_read(server: LocalLogfireServer, http: httpx.Client) -> None:
    server.store.append("records", records_at([DAY] * 500))
    server.faults.inject(broken_stream=True)
    response = http.post(
        "/v2/query",
        json={**BODY, "limit": 500},
        headers={"accept": "application/vnd.apache.arrow.stream"},
    )
    assert response.status_code == 200
    with pytest.raises((pa.ArrowInvalid, OSError)):
        pa.ipc.open_stream(response.content).read_all()


def test_broken_ndjson_stream_ends_with_an_error_line(
    server: LocalLogfireServer, http: httpx.Client
) -> None:
    server.store.append("records", records_at([DAY] * 3_000))
    server.faults.inject(broken_stream=True)
    response = http.post(
        "/v2/query", json={**BODY, "limit": 3_000}, headers={"accept": "application/x-ndjson"}
    )
    last = response.text.strip().splitlines()[-1]
    assert '"type":"error"' in last


def test_faults_reject_nonsense() -> None:
    from pipelines.server.faults import Faults

    with pytest.raises(ValueError, match="error status"):
        Faults().inject(status=200)
    with pytest.raises(ValueError, match="at least 1"):
        Faults().inject(status=500, times=0)
