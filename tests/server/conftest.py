"""Fixtures for the server's own tests (the `server` fixture is in `tests/conftest.py`)."""

from collections.abc import Iterator

import httpx
import pytest

from pipelines.server import LocalLogfireServer


@pytest.fixture
def http(server: LocalLogfireServer) -> Iterator[httpx.Client]:
    """A plain HTTP client that sends the read token the way the SDK does (raw)."""
    headers = {"authorization": server.read_token}
    with httpx.Client(base_url=server.base_url, headers=headers, timeout=30) as client:
        yield client
