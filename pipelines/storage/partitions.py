"""Partitioned Parquet output: Hive layout, staged writes, and a replace-on-commit.

Layout under the root: `<export>/date=YYYY-MM-DD/hour=HH/part-00000.parquet` (daily exports
stop at `date=`), with a `_manifest.json` beside the data files as the commit record.

A partition is written into a hidden staging folder next to its final place
(`.hour=HH.staging-<id>`), then swapped in with two renames: the old folder moves aside to
`.hour=HH.old-<id>`, the staging folder takes its name, and the old one is deleted. A reader
that globs `*.parquet` sees the old files or the new ones, never a mix and never a partial
file; between the two renames it sees no files for that partition. Hidden names (leading
`.`) are skipped by pyarrow, DuckDB, Polars and Spark.
"""

import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
from fsspec.implementations.local import LocalFileSystem

from pipelines.storage.files import ParquetFileSpec, RollingParquetWriter, WrittenFile

MANIFEST_NAME = "_manifest.json"

PartitionValues = Sequence[tuple[str, str]]


class StorageError(RuntimeError):
    """The output root cannot be used, or a partition could not be committed."""


@dataclass(frozen=True)
class CommittedPartition:
    """What a commit left in place."""

    uri: str
    files: list[WrittenFile]

    @property
    def rows(self) -> int:
        return sum(f.rows for f in self.files)

    @property
    def bytes(self) -> int:
        return sum(f.bytes for f in self.files)


class PartitionStore:
    """The output root, local or remote, and the partitions under it."""

    def __init__(self, root: str, *, file_spec: ParquetFileSpec | None = None) -> None:
        self.root_uri = root
        fs, path = fsspec.core.url_to_fs(root)
        if not isinstance(fs, LocalFileSystem):
            # TODO(issue 4): S3 through s3fs needs its own commit (no atomic directory rename).
            raise StorageError(
                f"output root {root!r}: only local paths are supported so far; "
                "S3 output is not implemented yet"
            )
        self.fs: LocalFileSystem = fs
        self.root = path.rstrip("/")
        self.file_spec = file_spec or ParquetFileSpec()

    def check_writable(self) -> None:
        """Create the root if needed and prove that files can be written there."""
        probe = f"{self.root}/.write-probe-{secrets.token_hex(4)}"
        try:
            self.fs.makedirs(self.root, exist_ok=True)
            with self.fs.open(probe, "wb") as handle:
                handle.write(b"")
            self.fs.rm(probe)
        except OSError as exc:
            raise StorageError(f"output root {self.root_uri!r} is not writable: {exc}") from exc

    def partition_path(self, export: str, partition: PartitionValues) -> str:
        parts = [f"{key}={value}" for key, value in partition]
        return "/".join([self.root, export, *parts])

    def partition_uri_for_path(self, path: str) -> str:
        return str(self.fs.unstrip_protocol(path))

    def partition_uri(self, export: str, partition: PartitionValues) -> str:
        return self.partition_uri_for_path(self.partition_path(export, partition))

    def writer(
        self, export: str, partition: PartitionValues, schema: pa.Schema
    ) -> "PartitionWriter":
        """A writer that stages a new version of the partition until `commit`."""
        return PartitionWriter(self, self.partition_path(export, partition), schema)

    def read_manifest(self, export: str, partition: PartitionValues) -> dict[str, Any] | None:
        path = f"{self.partition_path(export, partition)}/{MANIFEST_NAME}"
        if not self.fs.exists(path):
            return None
        with self.fs.open(path, "rb") as handle:
            manifest: dict[str, Any] = json.load(handle)
        return manifest


class PartitionWriter:
    """Writes one partition's files out of sight, then swaps them in on `commit`."""

    def __init__(self, store: PartitionStore, final_path: str, schema: pa.Schema) -> None:
        self._fs = store.fs
        self._uri = store.partition_uri_for_path(final_path)
        self.final_path = final_path
        parent, _, leaf = final_path.rpartition("/")
        self._parent, self._leaf = parent, leaf
        token = secrets.token_hex(6)
        self.staging_path = f"{parent}/.{leaf}.staging-{token}"
        self._old_path = f"{parent}/.{leaf}.old-{token}"
        self._remove_leftovers()
        self._fs.makedirs(self.staging_path, exist_ok=True)
        self._files = RollingParquetWriter(self._fs, self.staging_path, schema, store.file_spec)
        self._done = False

    def __enter__(self) -> "PartitionWriter":
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if not self._done:
            self.abort()

    def write(self, table: pa.Table) -> None:
        self._files.write(table)

    def commit(self, manifest: dict[str, Any]) -> CommittedPartition:
        """Finish the files, write the manifest, and replace the partition's old contents."""
        files = self._files.close()
        record = {**manifest, "files": [f.as_dict() for f in files]}
        with self._fs.open(f"{self.staging_path}/{MANIFEST_NAME}", "w") as handle:
            json.dump(record, handle, indent=2, sort_keys=True, default=str)
        try:
            if self._fs.exists(self.final_path):
                self._fs.mv(self.final_path, self._old_path, recursive=True)
            self._fs.mv(self.staging_path, self.final_path, recursive=True)
        except OSError as exc:
            raise StorageError(f"could not commit partition {self._uri}: {exc}") from exc
        self._done = True
        if self._fs.exists(self._old_path):
            self._fs.rm(self._old_path, recursive=True)
        return CommittedPartition(self._uri, files)

    def abort(self) -> None:
        """Drop everything staged; the partition keeps its previous contents."""
        self._done = True
        self._files.abandon()
        if self._fs.exists(self.staging_path):
            self._fs.rm(self.staging_path, recursive=True)

    def _remove_leftovers(self) -> None:
        """Delete the staging and old folders that a crashed earlier run left behind."""
        if not self._fs.exists(self._parent):
            return
        prefixes = (f".{self._leaf}.staging-", f".{self._leaf}.old-")
        for entry in self._fs.ls(self._parent, detail=False):
            if entry.rpartition("/")[2].startswith(prefixes):
                self._fs.rm(entry, recursive=True)


def read_partition(store: PartitionStore, export: str, partition: PartitionValues) -> pa.Table:
    """All rows of one committed partition (for checks and tests)."""
    path = store.partition_path(export, partition)
    files = sorted(p for p in store.fs.ls(path, detail=False) if p.endswith(".parquet"))
    tables = [pq.read_table(p, filesystem=store.fs) for p in files]
    return pa.concat_tables(tables)
