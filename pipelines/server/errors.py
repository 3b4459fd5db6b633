"""Error answers, in Logfire's legacy shape or as RFC 9457 problem details.

The legacy body is FastAPI's: `{"detail": "..."}` (or a list of validation errors for 422).
A client that lists `application/problem+json` in Accept gets a problem detail instead,
which carries the legacy body in `error_details`: the `logfire` SDK takes `error_details`
as its exception's argument, so the error reads the same whichever body the server sent.
"""

from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from starlette.responses import Response

from pipelines.server import formats
from pipelines.server.faults import PROBLEM_BASE

_PROBLEM_SLUGS = {
    400: "query-failed",
    401: "invalid-token",
    404: "not-found",
    406: "not-acceptable",
    413: "payload-too-large",
    415: "unsupported-media-type",
    422: "invalid-request",
}


@dataclass
class ApiError(Exception):
    """An error answer; raised inside handlers and turned into a response in one place."""

    status: int
    detail: Any
    problem_type: str | None = None
    title: str | None = None
    retryable: bool | None = None
    retry_after: float | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.status}: {self.detail}"


def invalid_token() -> ApiError:
    return ApiError(401, "Invalid token")


def wants_problem_json(accept: str | None) -> bool:
    return any(
        media == formats.PROBLEM_JSON and quality > 0 for media, quality in accept_list(accept)
    )


def accept_list(accept: str | None) -> list[tuple[str, float]]:
    """Media ranges from an Accept header with their quality, highest quality first."""
    ranges: list[tuple[str, float]] = []
    for part in (accept or "").split(","):
        media, *params = (piece.strip() for piece in part.split(";"))
        if not media:
            continue
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        ranges.append((media.lower(), quality))
    return sorted(ranges, key=lambda item: -item[1])


def error_response(error: ApiError, accept: str | None) -> Response:
    legacy = {"detail": error.detail}
    headers = dict(error.headers)
    if error.retry_after is not None:
        headers["retry-after"] = f"{error.retry_after:g}"
    if not wants_problem_json(accept):
        return Response(formats.dumps(legacy), error.status, headers, formats.JSON)
    title = error.title or HTTPStatus(error.status).phrase
    problem: dict[str, Any] = {
        "type": error.problem_type or PROBLEM_BASE + _PROBLEM_SLUGS.get(error.status, "error"),
        "title": title,
        "status": error.status,
        "detail": error.detail if isinstance(error.detail, str) else title,
        "error_details": legacy,
    }
    if error.retryable is not None:
        problem["retryable"] = error.retryable
    if error.retry_after is not None:
        problem["retry_after"] = error.retry_after
    return Response(formats.dumps(problem), error.status, headers, formats.PROBLEM_JSON)
