"""A bad output root fails the run before any query, names the root, and writes nothing.

Each case runs the real asset in a real Dagster instance against the local server, so what
is checked is what a user gets: the run's failure message (as `backfill` prints it), the
server's query log, and the root afterwards.
"""

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
import s3fs
from dagster import DagsterInstance, ExecuteInProcessResult

from pipelines.export.spec import parse_exports
from pipelines.orchestration.build import build_definitions
from pipelines.orchestration.local_runs import failure_message, materialize_partition
from pipelines.orchestration.resources import LogfireQueryResource, ParquetStorageResource
from pipelines.server.runner import LocalLogfireServer
from tests.storage.s3_server import FAKE_CREDENTIALS, S3Endpoint, clear_s3fs_caches

PARTITION = "2026-12-01-13:00"
FORMATS = ["parquet", "delta"]


@pytest.fixture
def token(server: LocalLogfireServer, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("LOGFIRE_READ_TOKEN", server.read_token)
    return server.read_token


@pytest.fixture
def s3(s3_endpoint: S3Endpoint, monkeypatch: pytest.MonkeyPatch) -> Iterator[s3fs.S3FileSystem]:
    """The moto endpoint with fake credentials in the environment, and no cached listings."""
    for name, value in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    clear_s3fs_caches()
    yield s3fs.S3FileSystem(endpoint_url=s3_endpoint.url)
    clear_s3fs_caches()


def export_partition(
    server: LocalLogfireServer,
    instance: DagsterInstance,
    root: str,
    output_format: str,
    s3_endpoint_url: str | None = None,
) -> ExecuteInProcessResult:
    export = {"table": "records", "start": "2026-11-01", "format": output_format}
    config = parse_exports({"exports": {"records": export}})
    defs = build_definitions(
        config,
        logfire=LogfireQueryResource(base_url=server.base_url),
        storage=ParquetStorageResource(root=root, s3_endpoint_url=s3_endpoint_url),
    )
    return materialize_partition(defs, "records", PARTITION, instance, log_level="CRITICAL")


def assert_failed_before_any_query(
    result: ExecuteInProcessResult, server: LocalLogfireServer, root: str
) -> str:
    assert not result.success
    message = failure_message(result)
    # Our own message, naming the root; not Dagster's wrapper or the library's bare cause.
    assert message.startswith(f"output root {root!r}"), message
    assert "\n" not in message and "Error occurred while executing" not in message
    assert len(server.query_log) == 0, server.query_log.entries
    return message


@pytest.mark.parametrize("output_format", FORMATS)
def test_a_local_root_under_a_missing_folder(
    server: LocalLogfireServer,
    token: str,
    tmp_path: Path,
    instance: DagsterInstance,
    output_format: str,
) -> None:
    root = str(tmp_path / "missing" / "out")
    result = export_partition(server, instance, root, output_format)
    message = assert_failed_before_any_query(result, server, root)
    assert "does not exist, and neither does its parent" in message
    assert not (tmp_path / "missing").exists()


@pytest.mark.parametrize("output_format", FORMATS)
def test_an_s3_bucket_that_does_not_exist(
    server: LocalLogfireServer,
    token: str,
    s3: s3fs.S3FileSystem,
    s3_endpoint: S3Endpoint,
    instance: DagsterInstance,
    output_format: str,
) -> None:
    bucket = f"missing-{secrets.token_hex(6)}"
    root = f"s3://{bucket}/exports"
    result = export_partition(server, instance, root, output_format, s3_endpoint.url)
    message = assert_failed_before_any_query(result, server, root)
    assert "is not writable" in message and "bucket does not exist" in message
    assert not s3.exists(bucket)  # nothing made it up


@pytest.mark.parametrize("output_format", FORMATS)
def test_s3_without_any_credentials(
    server: LocalLogfireServer,
    token: str,
    s3: s3fs.S3FileSystem,
    s3_endpoint: S3Endpoint,
    instance: DagsterInstance,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    output_format: str,
) -> None:
    bucket = f"test-{secrets.token_hex(6)}"
    s3.mkdir(bucket)
    with monkeypatch.context() as without:
        for name in [
            *FAKE_CREDENTIALS,
            "AWS_SESSION_TOKEN",
            "AWS_PROFILE",
            "AWS_DEFAULT_PROFILE",
            "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            "AWS_WEB_IDENTITY_TOKEN_FILE",
        ]:
            without.delenv(name, raising=False)
        # Empty shared files and no instance metadata service: nothing left in the chain.
        empty = tmp_path / "empty"
        empty.write_text("")
        without.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty))
        without.setenv("AWS_CONFIG_FILE", str(empty))
        without.setenv("AWS_EC2_METADATA_DISABLED", "true")
        clear_s3fs_caches()  # a cached filesystem would still hold the fake credentials
        root = f"s3://{bucket}/exports"
        result = export_partition(server, instance, root, output_format, s3_endpoint.url)
        message = assert_failed_before_any_query(result, server, root)
    assert "Unable to locate credentials" in message and "AWS chain" in message
    s3.invalidate_cache()
    assert s3.find(bucket) == []
