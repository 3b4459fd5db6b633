"""What every partition writer shares: staging through a rolling Parquet writer, the
commit record, and the names of the steps a commit goes through.

A writer is used as a context manager: `write` tables, then `commit(manifest)`; leaving the
block without a commit (an error) calls `abort`, which drops everything staged.
"""

import json
import logging
import secrets
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

import pyarrow as pa
from fsspec import AbstractFileSystem

from pipelines.storage.files import RollingParquetWriter, WrittenFile, in_progress_name

logger = logging.getLogger(__name__)

MANIFEST_NAME = "_manifest.json"
# Work areas live under `<root>/_staging/<export>/`, outside every export's own folder, so a
# reader that globs `<root>/<export>/**/*.parquet` never reaches them. (DuckDB and Polars do
# not skip hidden or `_` folders in a `**` glob; pyarrow and Spark do.)
STAGING_DIR = "_staging"
# The kinds of work area: a version being staged, and a previous version moved or copied
# aside while the new one takes its place.
NEW, OLD = "new", "old"

PartitionValues = Sequence[tuple[str, str]]

# Test-only seam: the crash tests set this in a child process so that it SIGKILLs itself at
# a named step of a commit (tests/storage/crash_child.py). Nothing in the package sets it.
step_hook: Callable[[str], None] | None = None


def reached(step: str) -> None:
    """Mark a step of a commit; a no-op unless a crash test installed `step_hook`."""
    if step_hook is not None:
        step_hook(step)


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


@dataclass(frozen=True)
class PartitionLocation:
    """One partition of one export under a root, and the names of its work areas."""

    fs: AbstractFileSystem
    root: str
    export: str
    partition: PartitionValues

    @property
    def path(self) -> str:
        parts = [f"{key}={value}" for key, value in self.partition]
        return "/".join([self.root, self.export, *parts])

    @property
    def uri(self) -> str:
        return str(self.fs.unstrip_protocol(self.path))

    @property
    def staging_parent(self) -> str:
        return f"{self.root}/{STAGING_DIR}/{self.export}"

    def work_area(self, kind: str, token: str) -> str:
        """`<root>/_staging/<export>/date=...hour=HH.<kind>-<token>`: one per attempt."""
        return f"{self.staging_parent}/{self._flat}.{kind}-{token}"

    @property
    def work_area_prefix(self) -> str:
        """What the names of all this partition's work areas start with."""
        return f"{self.staging_parent}/{self._flat}."

    def leftover_work_areas(self, kinds: Sequence[str]) -> list[str]:
        """Work areas of this partition that earlier attempts left behind (crashes)."""
        self.fs.invalidate_cache(self.staging_parent)
        if not self.fs.exists(self.staging_parent):
            return []
        prefixes = tuple(f"{self._flat}.{kind}-" for kind in kinds)
        return [
            entry
            for entry in self.fs.ls(self.staging_parent, detail=False)
            if entry.rstrip("/").rpartition("/")[2].startswith(prefixes)
        ]

    def new_attempt(self, kind: str, leftover_kinds: Sequence[str]) -> tuple[str, str]:
        """Start an attempt: clear what earlier attempts left, return (token, work area).

        A crash skips a writer's cleanup, so the next attempt at the partition does it.
        """
        for leftover in self.leftover_work_areas(leftover_kinds):
            self.fs.rm(leftover, recursive=True)
        token = secrets.token_hex(4)
        return token, self.work_area(kind, token)

    @property
    def _flat(self) -> str:
        return ".".join(f"{key}={value}" for key, value in self.partition)


def manifest_bytes(manifest: dict[str, Any], files: list[WrittenFile]) -> bytes:
    record = {**manifest, "files": [f.as_dict() for f in files]}
    return json.dumps(record, indent=2, sort_keys=True, default=str).encode()


class StagedPartitionWriter(ABC):
    """Stages a partition's files in a work area until `commit` makes them the partition."""

    def __init__(
        self,
        location: PartitionLocation,
        stage: str,
        files: RollingParquetWriter,
    ) -> None:
        self.location = location
        self.stage = stage
        self._files = files
        self._done = False

    def __enter__(self) -> Self:
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
        """Finish the files and replace the partition's previous contents with them."""
        files = self._files.close()
        reached("files-written")
        try:
            published = self._publish(files, manifest)
        except (OSError, ValueError) as exc:
            raise StorageError(f"could not commit partition {self.location.uri}: {exc}") from exc
        self._done = True
        return CommittedPartition(self.location.uri, published)

    def abort(self) -> None:
        """Drop everything staged; the partition keeps its previous contents."""
        self._done = True
        self._files.abandon()
        self._discard_stage()

    def _remove_work_areas(self, *areas: str) -> None:
        """Delete work areas that are no longer needed; a failure only warns.

        By then the outcome (a commit, or the previous version kept) stands; whatever is
        left is removed by the next attempt at the partition.
        """
        fs = self.location.fs
        for area in areas:
            try:
                fs.invalidate_cache(area)
                if fs.exists(area):
                    fs.rm(area, recursive=True)
            except Exception as exc:
                logger.warning("could not remove the work area %s: %s", area, exc)

    def staged_path(self, file: WrittenFile) -> str:
        return f"{self.stage}/{in_progress_name(file.name)}"

    @abstractmethod
    def _publish(self, files: list[WrittenFile], manifest: dict[str, Any]) -> list[WrittenFile]:
        """Make the staged files (and then the manifest) the partition's contents."""

    @abstractmethod
    def _discard_stage(self) -> None:
        """Delete this attempt's work area."""
