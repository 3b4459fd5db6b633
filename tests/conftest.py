"""Fixtures shared across the suite: a real local Logfire server and clients for it."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import DagsterInstance, instance_for_test

from pipelines.query_api import QueryClient, RetryPolicy
from pipelines.server.runner import LocalLogfireServer

# Retries in tests should be real but not slow.
FAST_RETRIES = RetryPolicy(max_attempts=4, initial_wait=0.01, max_wait=0.1)


@pytest.fixture
def server() -> Iterator[LocalLogfireServer]:
    """A fresh, empty Logfire-compatible server on a free loopback port."""
    with LocalLogfireServer() as running:
        yield running


@pytest.fixture
def client(server: LocalLogfireServer) -> Iterator[QueryClient]:
    with QueryClient(server.read_token, base_url=server.base_url, retry=FAST_RETRIES) as c:
        yield c


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[DagsterInstance]:
    """A real Dagster instance with its storage in the test's own folder."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    with instance_for_test(temp_dir=str(home)) as dagster_instance:
        yield dagster_instance
