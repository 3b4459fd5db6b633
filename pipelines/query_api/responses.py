"""Reading the API's answers: Arrow, JSON and CSV bodies, and the server's error messages."""

import io
import json
from collections.abc import Mapping
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.ipc

from pipelines.query_api.errors import ServerError, UnexpectedResponseError, trim

PROBLEM_JSON = "application/problem+json"
# An Arrow IPC stream ends with a continuation marker and a zero length.
ARROW_END_OF_STREAM = b"\xff\xff\xff\xff\x00\x00\x00\x00"


def problem_details(response: httpx.Response) -> Mapping[str, Any] | None:
    media_type = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != PROBLEM_JSON:
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def server_message(response: httpx.Response) -> str:
    """The server's own explanation, from a problem+json, `{"detail": ...}` or plain body."""
    try:
        body = response.json()
    except ValueError:
        return trim(response.text) or response.reason_phrase
    if isinstance(body, dict):
        details = body.get("error_details", body)
        detail = details.get("detail", body.get("detail")) if isinstance(details, dict) else None
        if detail is None:
            detail = body.get("title")
        if detail is not None:
            return trim(detail if isinstance(detail, str) else json.dumps(detail))
    return trim(json.dumps(body))


def decode_text(response: httpx.Response) -> str:
    return response.text


def decode_json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError as exc:
        url = response.request.url.copy_with(query=None)
        raise UnexpectedResponseError(f"the answer from {url} is not valid JSON") from exc


def decode_arrow(response: httpx.Response) -> pa.Table:
    url = response.request.url.copy_with(query=None)
    # pyarrow reads a stream cut at a batch boundary as if it were whole; only the
    # end-of-stream marker proves that the server finished the answer.
    if not response.content.endswith(ARROW_END_OF_STREAM):
        raise ServerError(
            f"the Arrow stream from {url} ends without its end-of-stream marker (cut short)",
            url=str(url),
        )
    try:
        with pyarrow.ipc.open_stream(io.BytesIO(response.content)) as reader:
            return reader.read_all()
    except (pa.ArrowInvalid, OSError) as exc:
        # A 200 with a cut-off stream is a transport hiccup, not a bad query: retry it.
        raise ServerError(f"the Arrow stream from {url} is broken: {exc}", url=str(url)) from exc
