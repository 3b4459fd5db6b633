"""Delta Lake output (`format: delta`): one table per export, partitioned like the Parquet.

Rows are spooled to local Parquet while the export runs (bounded memory, no partial data
anywhere a reader looks), then one `write_deltalake` call replaces the partition: an
overwrite with a predicate on the partition columns, a single atomic commit to the table's
log. Readers that go through the log (deltalake, Polars `scan_delta`, DuckDB over the
table's pyarrow dataset, Spark) see the whole old partition or the whole new one. The commit
record (what `_manifest.json` holds for Parquet) is the commit's custom metadata.

A run killed during the write leaves data files that no version of the log references;
`DeltaTable.vacuum()` removes them once they are older than its retention. It is not run
here, because a retention of zero would also delete the files of a concurrent writer.
"""

import json
import tempfile
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import CommitProperties, DeltaTable, WriterProperties, write_deltalake
from deltalake.exceptions import DeltaError, TableNotFoundError
from fsspec.implementations.local import LocalFileSystem

from pipelines.storage.commit import (
    PartitionLocation,
    PartitionValues,
    StagedPartitionWriter,
    StorageError,
    reached,
)
from pipelines.storage.files import ParquetFileSpec, RollingParquetWriter, WrittenFile

MANIFEST_KEY = "logfire_export_manifest"
SPOOL = "spool"
# How far back `read_delta_manifest` looks for a partition's last commit.
HISTORY_LIMIT = 1000


def delta_schema(schema: pa.Schema, partition: PartitionValues) -> pa.Schema:
    """The table's schema: the export's columns, then the partition columns as strings."""
    return pa.schema([*schema, *(pa.field(key, pa.string()) for key, _ in partition)])


def partition_predicate(partition: PartitionValues) -> str:
    return " AND ".join(
        f"{key} = '{value.replace(chr(39), chr(39) * 2)}'" for key, value in partition
    )


class DeltaPartitionWriter(StagedPartitionWriter):
    """Spools a partition locally and replaces it in the Delta table on `commit`."""

    def __init__(
        self,
        location: PartitionLocation,
        table_uri: str,
        schema: pa.Schema,
        spec: ParquetFileSpec,
        *,
        sort_by: str | None = None,
        storage_options: dict[str, str] | None = None,
    ) -> None:
        # The spool is local whatever the root, in a per-partition area of the temp folder,
        # so the next attempt at the partition finds and removes a killed run's spool.
        spool_root = PartitionLocation(
            LocalFileSystem(),
            f"{tempfile.gettempdir()}/logfire-export-delta",
            location.export,
            location.partition,
        )
        token, stage = spool_root.new_attempt(SPOOL, [SPOOL])
        spool_root.fs.makedirs(stage, exist_ok=True)
        files = RollingParquetWriter(
            spool_root.fs, stage, schema, spec, token=token, sort_by=sort_by
        )
        super().__init__(location, stage, files)
        self._spool_fs = spool_root.fs
        self._table_uri = table_uri
        self._schema = schema
        self._spec = spec
        self._storage_options = storage_options

    def _publish(self, files: list[WrittenFile], manifest: dict[str, Any]) -> list[WrittenFile]:
        partition = self.location.partition
        schema = delta_schema(self._schema, partition)
        rows = pa.RecordBatchReader.from_batches(schema, self._spooled_batches(files, schema))
        record = {**manifest, "rows": sum(f.rows for f in files)}
        reached("staged")
        try:
            write_deltalake(
                self._table_uri,
                rows,
                partition_by=[key for key, _ in partition],
                mode="overwrite",
                predicate=partition_predicate(partition),
                storage_options=self._storage_options,
                writer_properties=WriterProperties(
                    compression="ZSTD", max_row_group_size=self._spec.row_group_rows
                ),
                commit_properties=CommitProperties(
                    custom_metadata={MANIFEST_KEY: json.dumps(record, default=str)}
                ),
            )
        except DeltaError as exc:
            raise StorageError(
                f"could not replace partition {self.location.uri} of Delta table "
                f"{self._table_uri}: {exc}"
            ) from exc
        reached("committed")
        self._discard_stage()
        return committed_files(self._table_uri, partition, self._storage_options)

    def _spooled_batches(
        self, files: list[WrittenFile], schema: pa.Schema
    ) -> Iterator[pa.RecordBatch]:
        constants = [value for _, value in self.location.partition]
        for file in files:
            for batch in pq.ParquetFile(self.staged_path(file)).iter_batches():
                columns = [
                    *batch.columns,
                    *(pa.array([v] * batch.num_rows, pa.string()) for v in constants),
                ]
                yield pa.RecordBatch.from_arrays(columns, schema=schema)

    def _discard_stage(self) -> None:
        if self._spool_fs.exists(self.stage):
            self._spool_fs.rm(self.stage, recursive=True)


def committed_files(
    table_uri: str, partition: PartitionValues, storage_options: dict[str, str] | None
) -> list[WrittenFile]:
    """The data files the table's current version holds for one partition."""
    actions = pa.table(
        DeltaTable(table_uri, storage_options=storage_options).get_add_actions(flatten=True)
    )
    wanted = dict(partition)
    files = []
    for row in actions.to_pylist():
        if all(row.get(f"partition.{key}") == value for key, value in wanted.items()):
            files.append(
                WrittenFile(str(row["path"]), int(row["num_records"]), int(row["size_bytes"]))
            )
    return sorted(files, key=lambda f: f.name)


def read_delta_manifest(
    table_uri: str, partition: PartitionValues, storage_options: dict[str, str] | None
) -> dict[str, Any] | None:
    """The commit record of the partition's last replace, or None if it was never written."""
    try:
        table = DeltaTable(table_uri, storage_options=storage_options)
    except TableNotFoundError:
        return None
    wanted = dict(partition)
    for commit in table.history(HISTORY_LIMIT):  # newest first
        raw = commit.get(MANIFEST_KEY)
        if isinstance(raw, str):
            record: dict[str, Any] = json.loads(raw)
            if record.get("partition") == wanted:
                return record
    return None


def read_delta_partition(
    table_uri: str, partition: PartitionValues, storage_options: dict[str, str] | None
) -> pa.Table:
    """All rows of one partition of the table's current version (for checks and tests)."""
    table = DeltaTable(table_uri, storage_options=storage_options)
    filters = [(key, "=", value) for key, value in partition]
    return table.to_pyarrow_table(filters=filters)
