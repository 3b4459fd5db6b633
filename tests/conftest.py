"""Fixtures shared across the suite: a real local Logfire server and clients for it."""

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
import s3fs
from dagster import DagsterInstance, instance_for_test
from hypothesis import settings

from pipelines.query_api import QueryClient, RetryPolicy
from pipelines.server.runner import LocalLogfireServer
from pipelines.server.store import TelemetryStore
from tests.storage.s3_server import FAKE_CREDENTIALS, S3Endpoint, clear_s3fs_caches, moto_server

# CI replays the same generated examples every run, so that a landing never depends on
# luck; locally each run explores new ones (and keeps failures in .hypothesis/).
settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")

# Retries in tests should be real but not slow.
FAST_RETRIES = RetryPolicy(max_attempts=4, initial_wait=0.01, max_wait=0.1)


@pytest.fixture(scope="session")
def running_server() -> Iterator[LocalLogfireServer]:
    # One uvicorn for the session: starting and stopping one per test costs ~0.2 s each.
    with LocalLogfireServer() as running:
        yield running


@pytest.fixture
def server(running_server: LocalLogfireServer) -> LocalLogfireServer:
    """The local Logfire-compatible server, emptied: no rows, no faults, no query log.

    And on real time again: a test that pinned the store's clock must not pass it on.
    """
    running_server.reset(TelemetryStore())
    return running_server


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


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[S3Endpoint]:
    """`moto_server` in its own process: the S3 and Secrets Manager APIs over real HTTP."""
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture
def s3_bucket(s3_endpoint: S3Endpoint, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A new, empty bucket on the moto endpoint, with fake credentials in the environment."""
    for name, value in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    clear_s3fs_caches()
    bucket = f"test-{secrets.token_hex(6)}"
    s3fs.S3FileSystem(endpoint_url=s3_endpoint.url).mkdir(bucket)
    yield bucket
    clear_s3fs_caches()
