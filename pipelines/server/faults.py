"""Scripted failures for the query endpoints, so clients can be tested against bad days.

`Faults.inject(...)` queues a fault for the next `times` query requests (`/v2/query` and
`/v1/query`); faults are used in the order they were injected. Everything else (OTLP,
schemas, token info) is never affected, so a test can still fill and inspect the server.
"""

import threading
from collections import deque
from dataclasses import dataclass

# Problem types as the real API names them; only the last path segment is known for sure.
PROBLEM_BASE = "https://logfire.pydantic.dev/problems/"
_DEFAULT_PROBLEMS = {
    429: ("rate-limited", "Too Many Requests", True),
    500: ("internal-error", "Internal Server Error", False),
    502: ("bad-gateway", "Bad Gateway", True),
    503: ("query-timeout", "Query Timeout", True),
    504: ("gateway-timeout", "Gateway Timeout", True),
}


@dataclass(frozen=True)
class Fault:
    """One injected behaviour: an error status, extra latency, or a stream cut short."""

    status: int | None = None
    retry_after: float | None = None
    latency: float = 0.0
    problem_type: str | None = None
    retryable: bool | None = None
    detail: str | None = None
    # For a 200 answer: Arrow streams stop half-way, NDJSON ends with an error line.
    broken_stream: bool = False

    @property
    def problem(self) -> tuple[str, str, bool]:
        """The problem type URI, title and `retryable` flag for the error status."""
        slug, title, retryable = _DEFAULT_PROBLEMS.get(
            self.status or 500, ("server-error", "Server Error", False)
        )
        return (
            self.problem_type or PROBLEM_BASE + slug,
            title,
            retryable if self.retryable is None else self.retryable,
        )


class Faults:
    """A thread-safe queue of faults for the query endpoints."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: deque[Fault] = deque()

    def inject(
        self,
        *,
        status: int | None = None,
        times: int = 1,
        retry_after: float | None = None,
        latency: float = 0.0,
        problem_type: str | None = None,
        retryable: bool | None = None,
        detail: str | None = None,
        broken_stream: bool = False,
    ) -> None:
        """Make the next `times` query requests fail (or slow down, or break) this way."""
        if status is not None and not 400 <= status <= 599:
            raise ValueError(f"an injected status must be an HTTP error status, got {status}")
        if times < 1:
            raise ValueError(f"times must be at least 1, got {times}")
        fault = Fault(status, retry_after, latency, problem_type, retryable, detail, broken_stream)
        with self._lock:
            self._queue.extend([fault] * times)

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._queue)

    def take(self) -> Fault | None:
        """The fault for the current request, if any is queued."""
        with self._lock:
            return self._queue.popleft() if self._queue else None
