"""An httpx client for the Logfire Query API (v2 by default, v1 selectable).

Retries live here and nowhere else: throttling (429), server errors (5xx), broken streams and
transport failures are retried with backoff that honours `Retry-After`; a 400, 401 or 422 is
never retried because the same request would fail the same way.
"""

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal, TypeVar

import httpx
import pyarrow as pa
import pyarrow.ipc
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from pipelines.query_api.errors import (
    InvalidRequestError,
    InvalidTokenError,
    LogfireQueryError,
    QueryFailedError,
    RetryableError,
    ServerError,
    ThrottledError,
    UnexpectedResponseError,
    UnreachableError,
)
from pipelines.query_api.regions import base_url_for_token, has_region_prefix, token_region
from pipelines.query_api.responses import (
    PROBLEM_JSON,
    decode_arrow,
    decode_json,
    decode_text,
    problem_details,
    server_message,
)
from pipelines.query_api.retry_after import parse_retry_after

logger = logging.getLogger(__name__)

# The API refuses a larger limit with a 422; every export request asks for exactly this.
MAX_ROW_LIMIT = 10_000
# A 10,000-row chunk with wide JSON columns can take a while to compute and send.
DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=10.0)

ApiVersion = Literal["v1", "v2"]


def parse_api_version(value: str) -> ApiVersion:
    """`v1` or `v2`, or an error naming the bad value."""
    if value == "v1":
        return "v1"
    if value == "v2":
        return "v2"
    raise ValueError(f"the Query API version must be 'v1' or 'v2', not {value!r}")


T = TypeVar("T")


class ResultFormat(StrEnum):
    """The response formats the API can send."""

    ARROW = "application/vnd.apache.arrow.stream"
    JSON = "application/json"
    CSV = "text/csv"


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a retryable failure is tried again."""

    max_attempts: int = 5
    initial_wait: float = 1.0
    # The longest backoff between attempts when the server does not say how long to wait.
    max_wait: float = 60.0
    # The longest Retry-After honoured; a longer one is treated as a refusal to serve.
    max_retry_after: float = 300.0


@dataclass
class ClientStats:
    """What the client did, for metadata and request-count assertions."""

    requests: int = 0
    retries: int = 0
    throttled: int = 0
    server_errors: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **counts: int) -> None:
        with self._lock:
            for name, value in counts.items():
                setattr(self, name, getattr(self, name) + value)

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return {
                "requests": self.requests,
                "retries": self.retries,
                "throttled": self.throttled,
                "server_errors": self.server_errors,
            }


class QueryClient:
    """Runs SQL against the Logfire Query API and decodes the answer.

    The base URL follows the token's region unless given. The token is only ever put in the
    `Authorization` header; no message, log line or repr contains it.
    """

    def __init__(
        self,
        read_token: str,
        *,
        base_url: str | None = None,
        api_version: ApiVersion = "v2",
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not read_token:
            raise ValueError("a Logfire read token is required")
        parse_api_version(api_version)
        self.region = token_region(read_token)
        self.region_from_prefix = has_region_prefix(read_token)
        self.base_url_given = base_url is not None
        self.base_url = (base_url or base_url_for_token(read_token)).rstrip("/")
        self.api_version: ApiVersion = api_version
        self.retry = retry or RetryPolicy()
        self.stats = ClientStats()
        # Full jitter: many runs throttled at once must not retry in lockstep.
        self._backoff = wait_random_exponential(
            multiplier=self.retry.initial_wait, max=self.retry.max_wait
        )
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=timeout,
            transport=transport,
            headers={"authorization": f"Bearer {read_token}"},
        )

    def __repr__(self) -> str:
        return f"QueryClient(base_url={self.base_url!r}, api_version={self.api_version!r})"

    def __enter__(self) -> "QueryClient":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- queries ---------------------------------------------------------------------------

    def query_arrow(
        self,
        sql: str,
        *,
        min_timestamp: datetime,
        max_timestamp: datetime | None = None,
        limit: int | None = None,
    ) -> pa.Table:
        """Run `sql` and return the rows as an Arrow table (the export's wire format)."""
        return self._query(
            sql, min_timestamp, max_timestamp, limit, ResultFormat.ARROW, decode=decode_arrow
        )

    def query_json_rows(
        self,
        sql: str,
        *,
        min_timestamp: datetime,
        max_timestamp: datetime | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """Run `sql` and return one dict per row (values as the API's JSON gives them)."""
        body = self._query_json(sql, min_timestamp, max_timestamp, limit, rows=True)
        rows: list[dict[str, Any]] = body["data"] if self.api_version == "v2" else body["rows"]
        return rows

    def query_json_columns(
        self,
        sql: str,
        *,
        min_timestamp: datetime,
        max_timestamp: datetime | None = None,
        limit: int | None = None,
    ) -> dict[str, list[Any]]:
        """Run `sql` and return `{column: values}`."""
        if self.api_version == "v2":
            # v2 answers row-oriented JSON only; transpose it, keeping the schema's order.
            body = self._query_json(sql, min_timestamp, max_timestamp, limit, rows=True)
            names = [f["name"] for f in body["schema"]["fields"]]
            return {name: [row.get(name) for row in body["data"]] for name in names}
        body = self._query_json(sql, min_timestamp, max_timestamp, limit, rows=False)
        return {column["name"]: column["values"] for column in body["columns"]}

    def query_csv(
        self,
        sql: str,
        *,
        min_timestamp: datetime,
        max_timestamp: datetime | None = None,
        limit: int | None = None,
    ) -> str:
        """Run `sql` and return the CSV text (always with a header row)."""
        return self._query(
            sql, min_timestamp, max_timestamp, limit, ResultFormat.CSV, decode=decode_text
        )

    def read_token_info(self) -> dict[str, Any]:
        """What the API knows about the read token (organization and project names)."""
        info: dict[str, Any] = self._send(
            lambda: self._http.build_request("GET", "/v1/read-token-info"), decode_json
        )
        return info

    # -- plumbing --------------------------------------------------------------------------

    @property
    def _query_url(self) -> str:
        return f"{self.base_url}/{self.api_version}/query"

    def _query_json(
        self,
        sql: str,
        min_timestamp: datetime,
        max_timestamp: datetime | None,
        limit: int | None,
        *,
        rows: bool,
    ) -> dict[str, Any]:
        body: dict[str, Any] = self._query(
            sql,
            min_timestamp,
            max_timestamp,
            limit,
            ResultFormat.JSON,
            decode_json,
            json_rows=rows,
        )
        return body

    def _query(
        self,
        sql: str,
        min_timestamp: datetime,
        max_timestamp: datetime | None,
        limit: int | None,
        result_format: ResultFormat,
        decode: Callable[[httpx.Response], T],
        *,
        json_rows: bool = True,
    ) -> T:
        params = _query_params(sql, min_timestamp, max_timestamp, limit)
        headers = {"accept": f"{result_format.value}, {PROBLEM_JSON};q=0.9"}
        if self.api_version == "v2":
            return self._send(
                lambda: self._http.build_request("POST", "/v2/query", json=params, headers=headers),
                decode,
            )
        if result_format is ResultFormat.JSON and json_rows:
            params["json_rows"] = "true"
        return self._send(
            lambda: self._http.build_request("GET", "/v1/query", params=params, headers=headers),
            decode,
        )

    def _send(self, build: Callable[[], httpx.Request], decode: Callable[[httpx.Response], T]) -> T:
        """Send a request and decode its 200 answer, retrying what is worth retrying.

        Decoding happens inside the retried block because a stream cut off mid-body is as
        transient as a dropped connection.
        """
        retrying = Retrying(
            stop=stop_after_attempt(self.retry.max_attempts),
            wait=self._wait,
            retry=retry_if_exception_type((RetryableError, httpx.TransportError)),
            before_sleep=self._before_retry,
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    response = self._send_once(build())
                    try:
                        return decode(response)
                    except ServerError:
                        self.stats.add(server_errors=1)  # a 200 whose body was cut short
                        raise
        except httpx.TransportError as exc:
            raise UnreachableError(
                f"could not reach the Logfire API at {self.base_url} after "
                f"{self.retry.max_attempts} attempts ({type(exc).__name__}: {exc}); check the "
                "base URL (LOGFIRE_EXPORT_BASE_URL) and that the server is up",
                url=self.base_url,
            ) from exc
        raise AssertionError("unreachable: tenacity reraises the last failure")

    def _send_once(self, request: httpx.Request) -> httpx.Response:
        self.stats.add(requests=1)
        try:
            response = self._http.send(request)
        except httpx.TransportError:
            self.stats.add(server_errors=1)
            raise
        if response.status_code == 200:
            return response
        raise self._error_for(response)

    def _error_for(self, response: httpx.Response) -> LogfireQueryError:
        status = response.status_code
        url = str(response.request.url.copy_with(query=None))
        message = server_message(response)
        retry_after = parse_retry_after(
            response.headers.get("retry-after"), problem_details(response)
        )
        if status == 400:
            return QueryFailedError(
                f"the query failed on the server (400): {message}", status_code=status, url=url
            )
        if status == 422:
            return InvalidRequestError(
                f"the server rejected the request as invalid (422): {message}",
                status_code=status,
                url=url,
            )
        if status in (401, 403):
            if self.base_url_given:
                host = "The base URL was set explicitly, not taken from the token"
                if self.region_from_prefix:
                    host += f" (whose prefix names the {self.region!r} region)"
            elif self.region_from_prefix:
                host = f"The token's prefix points to the {self.region!r} region"
            else:
                host = (
                    "The token has no region prefix (pylf_v1_<region>_...), so the US host "
                    "is assumed"
                )
            return InvalidTokenError(
                f"Logfire refused the read token ({status}: {message}) at {self.base_url}. "
                f"{host}; check that it is a read token (not a write token) for a project "
                "on that host, or set the base URL for the region the project lives in.",
                status_code=status,
                url=url,
            )
        if status == 429:
            self.stats.add(throttled=1)
            return ThrottledError(
                f"throttled by the Logfire API (429): {message}",
                status_code=status,
                url=url,
                retry_after=retry_after,
            )
        if status >= 500:
            self.stats.add(server_errors=1)
            return ServerError(
                f"the Logfire API failed ({status}): {message}",
                status_code=status,
                url=url,
                retry_after=retry_after,
            )
        return UnexpectedResponseError(
            f"unexpected answer from the Logfire API ({status}): {message}",
            status_code=status,
            url=url,
        )

    def _wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, RetryableError) and error.retry_after is not None:
            # Waiting less than asked would only spend an attempt while still throttled.
            return min(error.retry_after, self.retry.max_retry_after)
        return float(self._backoff(state))

    def _before_retry(self, state: RetryCallState) -> None:
        self.stats.add(retries=1)
        error = state.outcome.exception() if state.outcome else None
        logger.warning(
            "Logfire API attempt %d of %d failed, retrying in %.1fs: %s",
            state.attempt_number,
            self.retry.max_attempts,
            state.upcoming_sleep,
            error,
        )


def _query_params(
    sql: str, min_timestamp: datetime, max_timestamp: datetime | None, limit: int | None
) -> dict[str, Any]:
    params: dict[str, Any] = {"sql": sql, "min_timestamp": _aware_iso(min_timestamp)}
    if max_timestamp is not None:
        params["max_timestamp"] = _aware_iso(max_timestamp)
    if limit is not None:
        params["limit"] = limit
    return params


def _aware_iso(moment: datetime) -> str:
    # The API rejects naive timestamps with a 422; refusing them here names the culprit.
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"timestamps sent to Logfire must be timezone-aware, got {moment!r}")
    return moment.isoformat()
