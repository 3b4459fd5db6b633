"""A client for the Logfire Query API and its error types."""

from pipelines.query_api.client import (
    MAX_ROW_LIMIT,
    ApiVersion,
    ClientStats,
    QueryClient,
    ResultFormat,
    RetryPolicy,
    parse_api_version,
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

__all__ = [
    "MAX_ROW_LIMIT",
    "ApiVersion",
    "ClientStats",
    "InvalidRequestError",
    "InvalidTokenError",
    "LogfireQueryError",
    "QueryClient",
    "QueryFailedError",
    "ResultFormat",
    "RetryPolicy",
    "RetryableError",
    "ServerError",
    "ThrottledError",
    "UnexpectedResponseError",
    "UnreachableError",
    "parse_api_version",
]
