"""Fixtures: a real local Logfire server on 127.0.0.1, reached over HTTP.

One server runs for the whole session (starting and stopping uvicorn costs a few hundred
milliseconds); every test gets it reset to an empty store with no faults and an empty log.
"""

from collections.abc import Iterator

import httpx
import pytest

from pipelines.server import LocalLogfireServer


@pytest.fixture(scope="session")
def running_server() -> Iterator[LocalLogfireServer]:
    with LocalLogfireServer() as running:
        yield running


@pytest.fixture
def server(running_server: LocalLogfireServer) -> LocalLogfireServer:
    running_server.reset()
    return running_server


@pytest.fixture
def http(server: LocalLogfireServer) -> Iterator[httpx.Client]:
    """A plain HTTP client that sends the read token the way the SDK does (raw)."""
    headers = {"authorization": server.read_token}
    with httpx.Client(base_url=server.base_url, headers=headers, timeout=30) as client:
        yield client
