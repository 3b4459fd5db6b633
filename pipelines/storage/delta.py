"""Delta Lake output (`format: delta`): one table per export, partitioned like the Parquet.

Rows are spooled to local Parquet while the export runs (bounded memory, no partial data
anywhere a reader looks), by the same writer as the Parquet output: row groups sorted by the
cursor column and capped in rows and bytes, a new file every `max_rows_per_file` rows. On
commit those files are copied into the partition's folder of the table under new names and
added to the table's log in ONE transaction that also removes the partition's previous
files (an overwrite with a filter on the partition columns). Readers that go through the
log (deltalake, Polars `scan_delta`, DuckDB over the table's pyarrow dataset, Spark) see the
whole old partition or the whole new one. The commit record (what `_manifest.json` holds
for Parquet) is the commit's custom metadata.

The files are committed as written rather than handed to `write_deltalake`, which would
re-partition the rows in parallel (losing their order) and size files in bytes only; each
add action carries statistics taken from the file's footer (see `delta_stats`).

A run killed before its commit leaves data files that no version of the log references;
they, and the files of replaced versions, stay until `vacuum_table` (the weekly
`delta_vacuum` job) removes what no version within its retention needs.
"""

import contextlib
import hashlib
import json
import re
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import CommitProperties, DeltaTable
from deltalake import Schema as DeltaSchema
from deltalake.exceptions import DeltaError, TableNotFoundError
from deltalake.transaction import AddAction, RemoveAction
from fsspec.implementations.local import LocalFileSystem

from pipelines.storage.commit import (
    PartitionLocation,
    PartitionValues,
    StagedPartitionWriter,
    StorageError,
    reached,
)
from pipelines.storage.delta_stats import file_stats
from pipelines.storage.files import ParquetFileSpec, RollingParquetWriter, WrittenFile, final_name

MANIFEST_KEY = "logfire_export_manifest"
SPOOL = "spool"
# How far back the manifest lookups look for a partition's last commit.
HISTORY_LIMIT = 1000
# Partition values go into file paths unescaped; dates and hours never need escaping.
PLAIN_VALUE = re.compile(r"[A-Za-z0-9_.\-]+")
# Storage options whose values must never reach an error message or a log.
SECRET_OPTIONS = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ACCESS_KEY_ID")

StorageOptions = dict[str, str] | None
# Resolved on each use: S3 credentials are frozen copies, and a role's expire.
StorageOptionsSource = Callable[[], StorageOptions]


def delta_schema(schema: pa.Schema, partition: PartitionValues) -> pa.Schema:
    """The table's schema: the export's columns, then the partition columns as strings."""
    return pa.schema([*schema, *(pa.field(key, pa.string()) for key, _ in partition)])


def partition_filters(partition: PartitionValues) -> list[tuple[str, str, Any]]:
    return [(key, "=", value) for key, value in partition]


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
        storage_options: StorageOptionsSource = lambda: None,
    ) -> None:
        for key, value in location.partition:
            if not PLAIN_VALUE.fullmatch(value):
                raise StorageError(f"partition {location.uri}: {key}={value!r} needs escaping")
        # Missing S3 credentials fail here, before a single row is fetched, not at commit.
        storage_options()
        # The spool is local whatever the root, in a per-partition area of the temp folder,
        # so the next attempt at the partition finds and removes a killed run's spool. It is
        # keyed by the table too: an export of the same partition to another root (a second
        # deployment on the host, a test) must not take this one's spool for a leftover.
        spool_root = PartitionLocation(
            LocalFileSystem(), spool_folder(table_uri), location.export, location.partition
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
        self._storage_options = storage_options

    def _publish(self, files: list[WrittenFile], manifest: dict[str, Any]) -> list[WrittenFile]:
        partition = self.location.partition
        schema = delta_schema(self._schema, partition)
        record = {**manifest, "rows": sum(f.rows for f in files)}
        reached("staged")
        options = self._storage_options()
        try:
            table = open_table(self._table_uri, schema, [key for key, _ in partition], options)
            actions = self._upload(files)
            # A long upload can outlast temporary credentials: commit with fresh ones.
            fresh = self._storage_options()
            if fresh != options:
                options = fresh
                table = DeltaTable(self._table_uri, storage_options=options)
            # No removes of our own: the overwrite removes whatever the filter matches.
            changes: list[AddAction | RemoveAction] = [*actions]
            table.create_write_transaction(
                changes,
                "overwrite",
                # The table's own schema: a different one would be committed as its new one.
                table.schema(),
                partition_by=[key for key, _ in partition],
                partition_filters=partition_filters(partition),
                commit_properties=CommitProperties(
                    custom_metadata={MANIFEST_KEY: json.dumps(record, default=str)}
                ),
            )
        except DeltaError as exc:
            raise StorageError(
                f"could not replace partition {self.location.uri} of Delta table "
                f"{self._table_uri}: {redact(str(exc), options)}"
            ) from exc
        reached("committed")
        self._discard_stage()
        return [WrittenFile(a.path, f.rows, f.bytes) for a, f in zip(actions, files, strict=True)]

    def _upload(self, files: list[WrittenFile]) -> list[AddAction]:
        """Copy the spooled files into the partition's folder; nothing references them yet.

        Every attempt names its files with a new UUID, so no upload can overwrite a file
        that the table's current version (or a concurrent attempt) references.
        """
        fs, folder = self.location.fs, self.location.path
        relative = self.location.path.removeprefix(f"{self.location.root}/{self.location.export}/")
        attempt = uuid.uuid4().hex
        if isinstance(fs, LocalFileSystem):
            fs.makedirs(folder, exist_ok=True)
        actions: list[AddAction] = []
        uploaded: list[str] = []
        try:
            for index, file in enumerate(files):
                spooled, target = self.staged_path(file), f"{folder}/{final_name(index, attempt)}"
                uploaded.append(target)
                fs.put_file(spooled, target)
                actions.append(
                    AddAction(
                        path=f"{relative}/{target.rpartition('/')[2]}",
                        size=file.bytes,
                        partition_values=dict(self.location.partition),
                        modification_time=int(time.time() * 1000),
                        data_change=True,
                        stats=file_stats(pq.read_metadata(spooled), self._schema),
                    )
                )
        except BaseException:
            # Not referenced by any version, so safe to delete; a crash leaves them to vacuum.
            for target in uploaded:
                with contextlib.suppress(OSError):
                    fs.rm(target)
            raise
        return actions

    def _discard_stage(self) -> None:
        if self._spool_fs.exists(self.stage):
            self._spool_fs.rm(self.stage, recursive=True)


def spool_folder(table_uri: str) -> str:
    """The local folder where exports to the table at `table_uri` spool their rows."""
    table_key = hashlib.sha256(table_uri.encode()).hexdigest()[:16]
    return f"{tempfile.gettempdir()}/logfire-export-delta/{table_key}"


def open_table(
    table_uri: str, schema: pa.Schema, partition_by: list[str], options: StorageOptions
) -> DeltaTable:
    """The export's table, created (empty, partitioned) on its first partition.

    A table whose columns differ is refused: a commit of our files would silently replace
    the table's schema, and the other partitions' files would no longer match it.
    """
    try:
        table = DeltaTable(table_uri, storage_options=options)
    except TableNotFoundError:
        # "ignore": a concurrent first export of another partition may have created it.
        table = DeltaTable.create(
            table_uri, schema, mode="ignore", partition_by=partition_by, storage_options=options
        )
    wanted = DeltaSchema.from_arrow(schema).fields
    have = table.schema().fields
    compatible = len(wanted) == len(have) and all(
        w.name == h.name and w.type == h.type and (h.nullable or not w.nullable)
        for w, h in zip(wanted, have, strict=True)
    )
    if not compatible:
        raise StorageError(
            f"Delta table {table_uri} has columns {table.schema().to_arrow()}, "
            f"the export writes {schema}; write to a new table or migrate this one"
        )
    return table


def redact(message: str, options: StorageOptions) -> str:
    """`message` without the values of any credential in `options`."""
    for key in SECRET_OPTIONS:
        secret = (options or {}).get(key)
        if secret:
            message = message.replace(secret, "***")
    return message


def committed_files(
    table_uri: str, partition: PartitionValues, storage_options: StorageOptions
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


def partition_rows(
    table_uri: str, partition: PartitionValues, storage_options: StorageOptions
) -> int | None:
    """The rows the table's current version holds for one partition (None: no files)."""
    try:
        files = committed_files(table_uri, partition, storage_options)
    except TableNotFoundError:
        return None
    return sum(f.rows for f in files) if files else None


def read_delta_manifests(
    table_uri: str, partitions: Sequence[PartitionValues], storage_options: StorageOptions
) -> list[dict[str, Any] | None]:
    """The commit record of each partition's last replace (None: never written).

    One read of the table's history serves every partition, so asking for the 48 hours of
    a reconciliation costs about what asking for one does.
    """
    try:
        table = DeltaTable(table_uri, storage_options=storage_options)
    except TableNotFoundError:
        return [None] * len(partitions)
    latest = latest_records(table.history(HISTORY_LIMIT))
    return [latest.get(_key(dict(partition))) for partition in partitions]


def read_delta_manifest(
    table_uri: str, partition: PartitionValues, storage_options: StorageOptions
) -> dict[str, Any] | None:
    """The commit record of the partition's last replace, or None if it was never written."""
    [record] = read_delta_manifests(table_uri, [partition], storage_options)
    return record


def latest_records(
    history: Iterable[dict[str, Any]],
) -> dict[tuple[tuple[str, str], ...], dict[str, Any]]:
    """The newest commit record per partition, from commits listed newest first."""
    latest: dict[tuple[tuple[str, str], ...], dict[str, Any]] = {}
    for commit in history:
        raw = commit.get(MANIFEST_KEY)
        if isinstance(raw, str):
            record: dict[str, Any] = json.loads(raw)
            partition = record.get("partition")
            if isinstance(partition, dict):
                latest.setdefault(_key(partition), record)
    return latest


def _key(partition: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((str(k), str(v)) for k, v in partition.items()))


def vacuum_table(
    table_uri: str, retention_hours: int, storage_options: StorageOptions
) -> list[str] | None:
    """Delete the table's files that no version of the last `retention_hours` references.

    That covers the files of replaced partitions and those a killed export left without a
    commit (a full vacuum lists the folder, not only the log). Returns the removed paths;
    None if there is no table yet.
    """
    try:
        table = DeltaTable(table_uri, storage_options=storage_options)
    except TableNotFoundError:
        return None
    try:
        # The retention is the project's setting (at least an hour), not the table's.
        return table.vacuum(
            retention_hours, dry_run=False, enforce_retention_duration=False, full=True
        )
    except DeltaError as exc:
        raise StorageError(
            f"could not vacuum Delta table {table_uri}: {redact(str(exc), storage_options)}"
        ) from exc


def read_delta_partition(
    table_uri: str, partition: PartitionValues, storage_options: StorageOptions
) -> pa.Table:
    """All rows of one partition of the table's current version (for checks and tests)."""
    table = DeltaTable(table_uri, storage_options=storage_options)
    return table.to_pyarrow_table(filters=partition_filters(partition))
