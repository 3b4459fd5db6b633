"""Parquet files that analytics engines read well.

zstd compression, row groups of about 128 MB uncompressed (or a row cap, whichever comes
first), and a new file once one reaches `max_rows_per_file`. Rows arrive in time order, so
row-group statistics let readers skip time ranges they do not need.
"""

import contextlib
from dataclasses import asdict, dataclass
from typing import IO

import pyarrow as pa
import pyarrow.parquet as pq
from fsspec import AbstractFileSystem


@dataclass(frozen=True)
class ParquetFileSpec:
    compression: str = "zstd"
    row_group_bytes: int = 128 * 1024 * 1024
    row_group_rows: int = 1_000_000
    max_rows_per_file: int = 5_000_000


@dataclass(frozen=True)
class WrittenFile:
    name: str
    rows: int
    bytes: int

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


class SchemaMismatchError(ValueError):
    """Rows to write do not have the partition's schema."""


class RollingParquetWriter:
    """Writes tables into `part-NNNNN.parquet` files in a folder, buffering row groups."""

    def __init__(
        self, fs: AbstractFileSystem, folder: str, schema: pa.Schema, spec: ParquetFileSpec
    ) -> None:
        self._fs = fs
        self._folder = folder
        self._schema = schema
        self._spec = spec
        self._buffer: list[pa.Table] = []
        self._buffered_rows = 0
        self._buffered_bytes = 0
        self._writer: pq.ParquetWriter | None = None
        self._handle: IO[bytes] | None = None
        self._current: str | None = None
        self._current_rows = 0
        self._files: list[WrittenFile] = []

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
            self._flush()

    def close(self) -> list[WrittenFile]:
        """Flush and close; an empty partition still gets one file carrying the schema."""
        self._flush()
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
        self._writer, self._handle, self._current = None, None, None

    def _flush(self) -> None:
        if not self._buffer:
            return
        rows = pa.concat_tables(self._buffer).combine_chunks()
        self._buffer, self._buffered_rows, self._buffered_bytes = [], 0, 0
        offset = 0
        while offset < rows.num_rows:
            if self._writer is None:
                self._open_file()
            room = self._spec.max_rows_per_file - self._current_rows
            piece = rows.slice(offset, room)
            assert self._writer is not None
            self._writer.write_table(piece, row_group_size=self._spec.row_group_rows)
            self._current_rows += piece.num_rows
            offset += piece.num_rows
            if self._current_rows >= self._spec.max_rows_per_file:
                self._close_file()

    def _open_file(self) -> None:
        self._current = f"{self._folder}/part-{len(self._files):05d}.parquet"
        self._handle = self._fs.open(self._current, "wb")
        self._writer = pq.ParquetWriter(
            self._handle, self._schema, compression=self._spec.compression
        )
        self._current_rows = 0

    def _close_file(self) -> None:
        if self._writer is None or self._current is None:
            return
        self._writer.close()
        assert self._handle is not None
        self._handle.close()
        size = self._fs.size(self._current)
        self._files.append(
            WrittenFile(self._current.rpartition("/")[2], self._current_rows, int(size))
        )
        self._writer, self._handle, self._current = None, None, None


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """Select and cast to the partition schema; a missing column or bad type is an error."""
    missing = [name for name in schema.names if name not in table.column_names]
    if missing:
        raise SchemaMismatchError(f"rows are missing columns: {', '.join(missing)}")
    try:
        return table.select(schema.names).cast(schema)
    except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError) as exc:
        raise SchemaMismatchError(f"rows do not fit the export schema: {exc}") from exc
