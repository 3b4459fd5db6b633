"""The query endpoints' parameters, validated the way Logfire's FastAPI backend does.

Invalid requests get 422 with FastAPI's error list (`loc` starts with `body` or `query`),
which pydantic produces for free since FastAPI builds it from the same errors.
"""

from datetime import UTC, datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, Field, ValidationError, field_validator

from pipelines.server.errors import ApiError

# Logfire's documented row limits.
MAX_LIMIT = 10_000
V2_DEFAULT_LIMIT = 100
V1_DEFAULT_LIMIT = 500


class V2QueryBody(BaseModel):
    """`POST /v2/query`. A naive `min_timestamp` is rejected, as the real API does."""

    sql: str
    min_timestamp: AwareDatetime
    max_timestamp: AwareDatetime | None = None
    limit: int = Field(V2_DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
    timezone: str | None = None
    deployment_environment: list[str] | None = None
    explain: bool = False
    # The SDK always sends true; what the server does without it is a guess.
    include_schema: bool = True


class V1QueryParams(BaseModel):
    """`GET /v1/query`. Timestamps are optional; naive ones are taken as UTC (a guess)."""

    sql: str
    min_timestamp: datetime | None = None
    max_timestamp: datetime | None = None
    limit: int = Field(V1_DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
    # The SDK and real traffic use `json_rows`; one docs page says `row_oriented`.
    json_rows: bool = False
    row_oriented: bool = False

    @field_validator("min_timestamp", "max_timestamp")
    @classmethod
    def _assume_utc(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


def parse_v2_body(body: bytes) -> V2QueryBody:
    try:
        return V2QueryBody.model_validate_json(body or b"null")
    except ValidationError as exc:
        raise _unprocessable(exc, "body") from exc


def parse_v1_params(params: dict[str, str]) -> V1QueryParams:
    try:
        return V1QueryParams.model_validate(params)
    except ValidationError as exc:
        raise _unprocessable(exc, "query") from exc


def _unprocessable(exc: ValidationError, location: str) -> ApiError:
    errors: list[dict[str, Any]] = []
    for error in exc.errors(include_url=False):
        entry: dict[str, Any] = {
            "type": error["type"],
            "loc": [location, *error["loc"]],
            "msg": error["msg"],
            "input": error["input"],
        }
        if "ctx" in error:
            # Context values can be exceptions; the wire format has their text.
            entry["ctx"] = {key: _plain(value) for key, value in error["ctx"].items()}
        errors.append(entry)
    return ApiError(422, errors)


def _plain(value: Any) -> Any:
    return value if isinstance(value, str | int | float | bool | type(None)) else str(value)
