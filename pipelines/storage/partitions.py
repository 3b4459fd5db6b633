"""Partitioned output under one root: Hive layout, staged writes, replace-on-commit.

Layout under the root: `<export>/date=YYYY-MM-DD/hour=HH/part-00000-<token>.parquet` (daily
exports stop at `date=`), with a `_manifest.json` beside the data files as the commit
record; or, for `format: delta`, a Delta table at `<root>/<export>` with the same partition
columns. Partition values are zero-padded strings.

`PartitionStore.writer` hands out the writer that fits the root and the format:

| root  | parquet                                | delta                        |
|-------|----------------------------------------|------------------------------|
| local | `LocalPartitionWriter` (folder swap)   | `DeltaPartitionWriter`       |
| S3    | `ObjectStorePartitionWriter` (1 file)  | `DeltaPartitionWriter`       |

All of them stage in a work area and change nothing a reader sees until `commit`.
"""

import json
from collections.abc import Sequence
from typing import Any, Literal

import pyarrow as pa
import pyarrow.parquet as pq
from fsspec.implementations.local import LocalFileSystem

from pipelines.storage import roots
from pipelines.storage.commit import (
    MANIFEST_NAME,
    CommittedPartition,
    PartitionLocation,
    PartitionValues,
    StorageError,
)
from pipelines.storage.commit import StagedPartitionWriter as PartitionWriter
from pipelines.storage.files import ParquetFileSpec
from pipelines.storage.local_commit import LocalPartitionWriter
from pipelines.storage.roots import S3Options
from pipelines.storage.s3_commit import ObjectStorePartitionWriter

__all__ = [
    "MANIFEST_NAME",
    "CommittedPartition",
    "OutputFormat",
    "PartitionStore",
    "PartitionValues",
    "PartitionWriter",
    "S3Options",
    "StorageError",
    "read_partition",
]

OutputFormat = Literal["parquet", "delta"]
DELTA_LOG = "_delta_log"


class PartitionStore:
    """The output root, local or S3, and the partitions under it."""

    def __init__(
        self,
        root: str,
        *,
        file_spec: ParquetFileSpec | None = None,
        s3: S3Options | None = None,
        create_root: bool = False,
    ) -> None:
        self.root_uri = root
        # Whether `check_writable` may create a missing local root (only the default one).
        self.create_root = create_root
        self.s3 = s3 or S3Options()
        self.fs, self.root = roots.open_root(root, self.s3)
        self.file_spec = file_spec or ParquetFileSpec()

    @property
    def is_local(self) -> bool:
        return isinstance(self.fs, LocalFileSystem)

    def check_writable(self) -> None:
        """Prove that partitions can be committed under the root; fail naming it if not."""
        roots.check_writable(self.fs, self.root, self.root_uri, create=self.create_root)

    def current_rows(
        self, export: str, partition: PartitionValues, *, format: OutputFormat
    ) -> int | None:
        """The rows the partition holds now, from file footers or the Delta log (None: none).

        For when there is no commit record to say: a count, not a read of the data.
        """
        if format == "delta":
            from pipelines.storage.delta import partition_rows

            return partition_rows(self.table_uri(export), partition, self.delta_storage_options())
        path = self.partition_path(export, partition)
        self.fs.invalidate_cache(path)
        if not self.fs.exists(path):
            return None
        names = [p for p in self.fs.ls(path, detail=False) if p.endswith(".parquet")]
        if not names:
            return None
        return sum(int(pq.read_metadata(name, filesystem=self.fs).num_rows) for name in names)

    def vacuum_delta(self, export: str, retention_hours: int) -> list[str] | None:
        """Remove the Delta files of `export` no recent version needs (None: no table yet)."""
        from pipelines.storage.delta import vacuum_table

        return vacuum_table(self.table_uri(export), retention_hours, self.delta_storage_options())

    def check_format(self, export: str, format: OutputFormat) -> None:
        """Refuse to write `format` where the export's folder holds the other format.

        A Delta table written over Parquet partitions (or Parquet partitions over a Delta
        table) leaves a folder that every reader misreads: globs count both, and a Parquet
        replace would delete files the table's log still references.
        """
        folder = f"{self.root}/{export}"
        self.fs.invalidate_cache(folder)
        if not self.fs.exists(folder):
            return
        is_delta = self.fs.exists(f"{folder}/{DELTA_LOG}")
        if format == "parquet" and is_delta:
            found = "a Delta table (it has _delta_log/)"
        elif format == "delta" and not is_delta and self.fs.ls(folder, detail=False):
            found = "Parquet partitions (no _delta_log/)"
        else:
            return
        shown = folder if self.is_local else self.fs.unstrip_protocol(folder)
        raise StorageError(
            f"{shown} holds {found}, but export {export!r} now "
            f"writes {format}: give the export a new name or root, or move the old output away"
        )

    def location(self, export: str, partition: PartitionValues) -> PartitionLocation:
        return PartitionLocation(self.fs, self.root, export, partition)

    def partition_path(self, export: str, partition: PartitionValues) -> str:
        return self.location(export, partition).path

    def partition_uri(self, export: str, partition: PartitionValues) -> str:
        return self.location(export, partition).uri

    def table_uri(self, export: str) -> str:
        """Where an export's Delta table lives: `<root>/<export>` as a URI deltalake reads."""
        path = f"{self.root}/{export}"
        return path if self.is_local else str(self.fs.unstrip_protocol(path))

    def delta_storage_options(self) -> dict[str, str] | None:
        """Options for deltalake, with credentials resolved now (they may expire)."""
        return roots.delta_storage_options(self.fs, self.s3, self.root_uri)

    def writer(
        self,
        export: str,
        partition: PartitionValues,
        schema: pa.Schema,
        *,
        format: OutputFormat = "parquet",
        sort_by: str | None = None,
    ) -> PartitionWriter:
        """A writer that stages a new version of the partition until `commit`.

        `sort_by` names the cursor column that each row group is ordered by.
        """
        location = self.location(export, partition)
        try:
            if format == "delta":
                # Imported here: only Delta exports pay for loading deltalake.
                from pipelines.storage.delta import DeltaPartitionWriter

                return DeltaPartitionWriter(
                    location,
                    self.table_uri(export),
                    schema,
                    self.file_spec,
                    sort_by=sort_by,
                    storage_options=self.delta_storage_options,
                )
            if self.is_local:
                return LocalPartitionWriter(location, schema, self.file_spec, sort_by=sort_by)
            return ObjectStorePartitionWriter(location, schema, self.file_spec, sort_by=sort_by)
        except OSError as exc:
            raise StorageError(f"could not stage partition {location.uri}: {exc}") from exc

    def read_manifest(
        self, export: str, partition: PartitionValues, *, format: OutputFormat
    ) -> dict[str, Any] | None:
        """The commit record of the partition's current contents, if it was ever committed."""
        [manifest] = self.read_manifests(export, [partition], format=format)
        return manifest

    def read_manifests(
        self, export: str, partitions: Sequence[PartitionValues], *, format: OutputFormat
    ) -> list[dict[str, Any] | None]:
        """`read_manifest` for many partitions; a Delta table's history is read once."""
        if format == "delta":
            from pipelines.storage.delta import read_delta_manifests

            return read_delta_manifests(
                self.table_uri(export), partitions, self.delta_storage_options()
            )
        return [self._read_parquet_manifest(export, partition) for partition in partitions]

    def _read_parquet_manifest(
        self, export: str, partition: PartitionValues
    ) -> dict[str, Any] | None:
        path = f"{self.partition_path(export, partition)}/{MANIFEST_NAME}"
        self.fs.invalidate_cache(path)
        if not self.fs.exists(path):
            return None
        manifest: dict[str, Any] = json.loads(self.fs.cat_file(path))
        return manifest


def read_partition(store: PartitionStore, export: str, partition: PartitionValues) -> pa.Table:
    """All rows of one committed Parquet partition (for checks and tests)."""
    path = store.partition_path(export, partition)
    store.fs.invalidate_cache(path)
    files = sorted(p for p in store.fs.ls(path, detail=False) if p.endswith(".parquet"))
    tables = [pq.read_table(p, filesystem=store.fs) for p in files]
    return pa.concat_tables(tables)
