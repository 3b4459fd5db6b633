"""Parquet files that analytics engines read well.

zstd compression, row groups of about 128 MB uncompressed (or a row cap, whichever comes
first), and a new file once one reaches `max_rows_per_file` (unless that is None: a store
that can only swap one object at a time writes each partition as one file). Rows arrive in
time order (the exporter fetches chunks in order); each row group is also sorted by the
cursor column, so row-group statistics let readers skip time ranges they do not need.

Files are written under in-progress names (`.part-00000-<token>.parquet.inprogress`) that no
`*.parquet` glob matches; the commit gives them their final names (`part-00000-<token>.parquet`).
The token differs on every write, so a reader that listed an older version of a partition
gets "file not found" for a replaced file, never a different file under the same name.
"""

import contextlib
from dataclasses import asdict, dataclass, replace
from typing import IO

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from fsspec import AbstractFileSystem

IN_PROGRESS_SUFFIX = ".inprogress"


@dataclass(frozen=True)
class ParquetFileSpec:
    compression: str = "zstd"
    row_group_bytes: int = 128 * 1024 * 1024
    row_group_rows: int = 1_000_000
    # None: no cap, every partition is one file (however many row groups it takes).
    max_rows_per_file: int | None = 5_000_000

    def in_one_file(self) -> "ParquetFileSpec":
        """The same row groups and compression, with no rollover to a second file."""
        return replace(self, max_rows_per_file=None)


@dataclass(frozen=True)
class WrittenFile:
    """A finished data file: its final name (not its in-progress one), rows and size."""

    name: str
    rows: int
    bytes: int

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


class SchemaMismatchError(ValueError):
    """Rows to write do not have the partition's schema."""


def final_name(index: int, token: str) -> str:
    return f"part-{index:05d}-{token}.parquet"


def in_progress_name(name: str) -> str:
    """The name a file has until its partition is committed: hidden, and not `*.parquet`."""
    return f".{name}{IN_PROGRESS_SUFFIX}"


class RollingParquetWriter:
    """Writes tables into in-progress Parquet files in a folder, one row group at a time."""

    def __init__(
        self,
        fs: AbstractFileSystem,
        folder: str,
        schema: pa.Schema,
        spec: ParquetFileSpec,
        *,
        token: str,
        sort_by: str | None = None,
    ) -> None:
        self._fs = fs
        self._folder = folder
        self._schema = schema
        self._spec = spec
        self._token = token
        self._sort_by = sort_by if sort_by in schema.names else None
        self._buffer: list[pa.Table] = []
        self._buffered_rows = 0
        self._buffered_bytes = 0
        self._writer: pq.ParquetWriter | None = None
        self._handle: IO[bytes] | None = None
        self._current_rows = 0
        self._files: list[WrittenFile] = []

    @property
    def folder(self) -> str:
        return self._folder

    def write(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        self._buffer.append(_conform(table, self._schema))
        self._buffered_rows += table.num_rows
        self._buffered_bytes += table.nbytes
        if (
            self._buffered_rows >= self._spec.row_group_rows
            or self._buffered_bytes >= self._spec.row_group_bytes
        ):
            self._flush(final=False)

    def close(self) -> list[WrittenFile]:
        """Flush and close; an empty partition still gets one file carrying the schema."""
        self._flush(final=True)
        if not self._files and self._writer is None:
            self._open_file()
        self._close_file()
        return list(self._files)

    def abandon(self) -> None:
        """Close without caring about the result (the folder is about to be deleted)."""
        # Called while another error propagates; a second failure closing a file that is
        # about to be deleted would only hide the first one.
        with contextlib.suppress(OSError, pa.ArrowException):
            if self._writer is not None:
                self._writer.close()
        with contextlib.suppress(OSError):
            if self._handle is not None:
                self._handle.close()
        self._writer, self._handle = None, None

    def _flush(self, *, final: bool) -> None:
        """Write whole row groups from the buffer; the rest waits for more rows unless final."""
        if not self._buffer:
            return
        rows = pa.concat_tables(self._buffer).combine_chunks()
        group = self._group_rows(rows)
        take = rows.num_rows if final else rows.num_rows - rows.num_rows % group
        rest = rows.slice(take)
        self._buffer = [rest] if rest.num_rows else []
        self._buffered_rows, self._buffered_bytes = rest.num_rows, rest.nbytes
        for start in range(0, take, group):
            self._write_group(rows.slice(start, min(group, take - start)))

    def _group_rows(self, rows: pa.Table) -> int:
        """Rows per row group: the row cap, or fewer if that many would pass the byte size."""
        average = max(1, int(rows.nbytes) // max(1, int(rows.num_rows)))
        return max(1, min(self._spec.row_group_rows, self._spec.row_group_bytes // average))

    def _write_group(self, group: pa.Table) -> None:
        if self._sort_by is not None:
            # Stable, so rows that share a timestamp keep the order they were fetched in.
            order = pc.sort_indices(group, sort_keys=[(self._sort_by, "ascending")])
            group = group.take(order)
        offset = 0
        while offset < group.num_rows:
            if self._writer is None:
                self._open_file()
            assert self._writer is not None
            cap = self._spec.max_rows_per_file
            room = group.num_rows - offset if cap is None else cap - self._current_rows
            piece = group.slice(offset, room)
            self._writer.write_table(piece, row_group_size=piece.num_rows)
            self._current_rows += piece.num_rows
            offset += piece.num_rows
            if cap is not None and self._current_rows >= cap:
                self._close_file()

    def _open_file(self) -> None:
        name = final_name(len(self._files), self._token)
        self._handle = self._fs.open(f"{self._folder}/{in_progress_name(name)}", "wb")
        self._writer = pq.ParquetWriter(
            self._handle, self._schema, compression=self._spec.compression
        )
        self._current_rows = 0

    def _close_file(self) -> None:
        if self._writer is None or self._handle is None:
            return
        self._writer.close()
        # The handle's position is the file's size; no extra round trip to a remote store.
        size = self._handle.tell()
        self._handle.close()
        name = final_name(len(self._files), self._token)
        self._files.append(WrittenFile(name, self._current_rows, int(size)))
        self._writer, self._handle = None, None


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """Select and cast to the partition schema; a missing column or bad type is an error."""
    missing = [name for name in schema.names if name not in table.column_names]
    if missing:
        raise SchemaMismatchError(f"rows are missing columns: {', '.join(missing)}")
    try:
        return table.select(schema.names).cast(schema)
    except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError) as exc:
        raise SchemaMismatchError(f"rows do not fit the export schema: {exc}") from exc
