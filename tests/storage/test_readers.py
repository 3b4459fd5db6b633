"""A multi-day export read back by pyarrow, DuckDB and Polars, locally and on moto S3."""

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds
import pytest

from pipelines.export.spec import ExportSpec, parse_exports
from pipelines.server.synthetic import records_at
from pipelines.storage.files import ParquetFileSpec
from pipelines.storage.partitions import PartitionStore
from tests.storage.conftest import StoreFactory
from tests.storage.s3_server import FAKE_CREDENTIALS

HOURS = [datetime(2026, 12, 1, 22, tzinfo=UTC) + timedelta(hours=h) for h in range(4)]
EMPTY_HOUR = HOURS[2]
PARTITION_TYPES = pa.schema([("date", pa.string()), ("hour", pa.string())])
ORDER = [("start_timestamp", "ascending"), ("span_id", "ascending")]


def records_spec() -> ExportSpec:
    document = {"exports": {"records": {"table": "records", "start": "2026-11-01"}}}
    return parse_exports(document).exports["records"]


def write_days(store: PartitionStore, spec: ExportSpec) -> pa.Table:
    """Four hours over two days, one of them empty; returns what a reader should get back."""
    expected = []
    for number, hour in enumerate(HOURS):
        partition = [("date", hour.strftime("%Y-%m-%d")), ("hour", hour.strftime("%H"))]
        count = 0 if hour == EMPTY_HOUR else 40 + number
        stamps = [hour + timedelta(seconds=89 * i) for i in range(count)]
        table = records_at(stamps, seed=number).select(spec.arrow_schema.names)
        table = table.cast(spec.arrow_schema)
        with store.writer("records", partition, spec.arrow_schema, sort_by=spec.time_column) as w:
            w.write(table)
            w.commit({"partition": dict(partition)})
        for key, value in partition:
            table = table.append_column(
                pa.field(key, pa.string()), pa.array([value] * count, pa.string())
            )
        expected.append(table)
    return pa.concat_tables(expected)


def polars_options(store: PartitionStore) -> dict[str, str] | None:
    if store.is_local:
        return None
    assert store.s3.endpoint_url is not None
    return {
        "aws_endpoint_url": store.s3.endpoint_url,
        "aws_allow_http": "true",
        "aws_access_key_id": FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        "aws_region": FAKE_CREDENTIALS["AWS_REGION"],
    }


def read_pyarrow(store: PartitionStore) -> pa.Table:
    dataset = ds.dataset(
        f"{store.root}/records",
        filesystem=store.fs,
        format="parquet",
        partitioning=ds.partitioning(PARTITION_TYPES, flavor="hive"),
    )
    return dataset.to_table()


def read_duckdb(store: PartitionStore) -> pa.Table:
    connection = duckdb.connect()
    # DuckDB labels timestamps with the session's zone; the data is UTC, so say so.
    connection.execute("SET TimeZone = 'UTC'")
    if not store.is_local:
        # DuckDB cannot download its httpfs extension here: it reads through s3fs instead.
        connection.register_filesystem(store.fs)
    glob = store.fs.unstrip_protocol(f"{store.root}/records") + "/**/*.parquet"
    if store.is_local:
        glob = f"{store.root}/records/**/*.parquet"
    relation = connection.sql(
        f"SELECT * FROM read_parquet('{glob}', hive_partitioning = true, "
        "hive_types_autocast = false)"
    )
    return relation.to_arrow_table()


def read_polars(store: PartitionStore) -> pa.Table:
    source = f"{store.root}/records/**/*.parquet"
    if not store.is_local:
        source = store.fs.unstrip_protocol(f"{store.root}/records") + "/**/*.parquet"
    frame = pl.scan_parquet(
        source,
        hive_partitioning=True,
        hive_schema={"date": pl.String, "hour": pl.String},
        try_parse_hive_dates=False,
        storage_options=polars_options(store),
    ).collect()
    return frame.to_arrow()


def normalized(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """Columns in the expected order, rows in key order; types are compared separately."""
    return table.select(schema.names).cast(schema).sort_by(ORDER)


def described(schema: pa.Schema) -> dict[str, str]:
    # Polars and DuckDB hand strings back as views or large strings, and Parquet names a
    # list's items `element`: the same logical types.
    text = {"large_string": "string", "string_view": "string", "large_list": "list"}
    out: dict[str, Any] = {}
    for field in schema:
        name = str(field.type)
        for physical, logical in text.items():
            name = name.replace(physical, logical)
        out[field.name] = re.sub(r"list<\w+:", "list<item:", name)
    return out


@pytest.mark.parametrize(
    "reader", [read_pyarrow, read_duckdb, read_polars], ids=lambda r: r.__name__
)
def test_every_reader_gets_the_same_rows_and_types(make_store: StoreFactory, reader: Any) -> None:
    spec = records_spec()
    store = make_store(ParquetFileSpec(row_group_rows=16, max_rows_per_file=32))
    expected = write_days(store, spec)
    got = reader(store)
    assert described(got.schema) == described(expected.schema)
    assert got.num_rows == expected.num_rows == sum(40 + n for n in (0, 1, 3))
    assert normalized(got, expected.schema).equals(normalized(expected, expected.schema))


def test_every_partition_has_the_identical_schema(make_store: StoreFactory) -> None:
    spec = records_spec()
    store = make_store()
    write_days(store, spec)
    schemas = [
        ds.dataset(path, filesystem=store.fs, format="parquet").schema
        for path in store.fs.find(f"{store.root}/records")
        if path.endswith(".parquet")
    ]
    assert len(schemas) == len(HOURS)
    assert all(schema.equals(spec.arrow_schema) for schema in schemas)
