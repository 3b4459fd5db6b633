"""How long the server asked us to wait, from `Retry-After` or a problem+json body."""

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any


def parse_retry_after(header: str | None, problem: Mapping[str, Any] | None) -> float | None:
    """Seconds to wait, or None when the server did not say.

    The header wins over the body. It holds either whole seconds or an HTTP date (RFC 9110);
    a date in the past means "now".
    """
    from_header = _from_header(header)
    if from_header is not None:
        return from_header
    if problem is not None:
        return _finite_delay(problem.get("retry_after"))
    return None


def _from_header(value: str | None) -> float | None:
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return _finite_delay(float(value))
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())


def _finite_delay(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    delay = float(value)
    return delay if math.isfinite(delay) and delay >= 0 else None
