"""Failures of the Logfire Query API, one exception type per kind.

    LogfireQueryError                 anything the API answered with an error
    ├── QueryFailedError      400     the SQL failed on the server (a bad filter, a typo)
    ├── InvalidRequestError   422     the request itself is invalid (naive timestamp, limit)
    ├── InvalidTokenError     401/403 the read token was refused (wrong token or region)
    ├── RetryableError                worth another try; `retry_after` is the server's wish
    │   ├── ThrottledError    429     rate limited
    │   └── ServerError       5xx     the server failed, timed out or is unavailable
    ├── UnexpectedResponseError       any other status, or a body that cannot be read
    └── UnreachableError              no answer at all, even after retries

Messages carry the status, the server's own words (trimmed) and the URL, never the token.
Only `RetryableError`s and transport errors are retried, in one place: the client
(`pipelines.query_api.client`).
"""

# Server messages are echoed into Dagster's UI and logs; keep them readable.
MAX_MESSAGE_CHARS = 2000


class LogfireQueryError(Exception):
    """The Logfire Query API answered with an error."""

    retryable = False

    def __init__(self, message: str, *, status_code: int | None = None, url: str = "") -> None:
        super().__init__(message)
        self.status_code = status_code
        self.url = url


class QueryFailedError(LogfireQueryError):
    """400: the server could not run the SQL. Never retried: the same SQL fails again."""


class InvalidRequestError(LogfireQueryError):
    """422: the request is malformed (for example a naive timestamp or a limit over 10,000)."""


class InvalidTokenError(LogfireQueryError):
    """401/403: the read token was refused; it is wrong, revoked, or for another region."""


class RetryableError(LogfireQueryError):
    """A failure that the same request may not meet again."""

    retryable = True

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        url: str = "",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, status_code=status_code, url=url)
        # Seconds the server asked us to wait (Retry-After header or problem body), if any.
        self.retry_after = retry_after


class ThrottledError(RetryableError):
    """429: the API asks the client to slow down."""


class ServerError(RetryableError):
    """5xx: the server failed, a query timed out, or the service is unavailable."""


class UnexpectedResponseError(LogfireQueryError):
    """Any other status, or a body that does not parse as the requested format."""


def trim(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """Shorten a server message so that an error stays readable."""
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 3] + "..."


class UnreachableError(LogfireQueryError):
    """The API did not answer at all (connection refused, DNS, timeouts), even after retries."""
