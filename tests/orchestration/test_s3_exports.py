"""Exports through Dagster into S3 (a moto_server process), Parquet and Delta, read back."""

from datetime import UTC, datetime, timedelta

import duckdb
import polars as pl
import pytest
import s3fs
from dagster import DagsterInstance

from pipelines.export.spec import parse_exports
from pipelines.orchestration.build import build_definitions
from pipelines.orchestration.local_runs import materialize_partition
from pipelines.orchestration.resources import LogfireQueryResource, ParquetStorageResource
from pipelines.server.runner import LocalLogfireServer
from pipelines.server.synthetic import generate_records
from pipelines.storage.partitions import OutputFormat
from tests.orchestration.metadata import int_entry, path_entry
from tests.storage.s3_server import FAKE_CREDENTIALS, S3Endpoint, clear_s3fs_caches

HOUR = datetime(2026, 12, 1, 13, tzinfo=UTC)
KEY = "2026-12-01-13:00"


@pytest.mark.parametrize("format", ["parquet", "delta"])
def test_a_partition_exported_to_s3_is_what_the_server_has(
    server: LocalLogfireServer,
    s3_endpoint: S3Endpoint,
    s3_bucket: str,
    instance: DagsterInstance,
    monkeypatch: pytest.MonkeyPatch,
    format: OutputFormat,
) -> None:
    server.store.append("records", generate_records(12_000, HOUR, HOUR + timedelta(hours=1)))
    expected = server.store.count("records", HOUR, HOUR + timedelta(hours=1))
    monkeypatch.setenv("LOGFIRE_READ_TOKEN", server.read_token)
    config = parse_exports(
        {"exports": {"records": {"table": "records", "start": "2026-11-01", "format": format}}}
    )
    root = f"s3://{s3_bucket}/logfire"
    defs = build_definitions(
        config,
        logfire=LogfireQueryResource(base_url=server.base_url),
        storage=ParquetStorageResource(root=root, s3_endpoint_url=s3_endpoint.url),
    )
    result = materialize_partition(defs, "records", KEY, instance)
    assert result.success
    [materialization] = result.asset_materializations_for_node("records")
    assert int_entry(materialization.metadata, "rows") == expected
    assert path_entry(materialization.metadata, "dagster/uri").startswith(f"{root}/records/")

    clear_s3fs_caches()
    fs = s3fs.S3FileSystem(endpoint_url=s3_endpoint.url)
    if format == "parquet":
        connection = duckdb.connect()
        connection.register_filesystem(fs)
        relation = connection.sql(
            f"SELECT count(*), min(hour) FROM read_parquet('{root}/records/**/*.parquet', "
            "hive_partitioning = true, hive_types_autocast = false)"
        )
        assert relation.fetchall() == [(expected, "13")]
    else:
        endpoint = {"AWS_ENDPOINT_URL": s3_endpoint.url, "AWS_ALLOW_HTTP": "true"}
        options = {**FAKE_CREDENTIALS, **endpoint}
        frame = pl.scan_delta(f"{root}/records", storage_options=options).collect()
        assert frame.height == expected and frame["hour"].unique().to_list() == ["13"]
