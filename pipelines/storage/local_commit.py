"""The commit of a partition on local disk: a directory swap by two renames.

The new version is staged in `<root>/_staging/<export>/<partition>.new-<token>/`. Its files
are written under in-progress names and renamed to their final names once complete, the
manifest is written last, and then:

1. the partition's folder (if any) is renamed to `<partition>.old-<token>` in the staging
   area, out of the export's folder;
2. the staged folder is renamed to the partition's folder;
3. the old folder is deleted.

Each rename is atomic, and both stay on the root's filesystem. A reader globbing
`<root>/<export>/**/*.parquet` sees the old files or the new ones, never both and never a
partial file; between the two renames (microseconds) it sees no files for the partition.
This protects against a killed process, not a power cut: nothing is fsynced.
"""

import logging
import os
from typing import Any

import pyarrow as pa

from pipelines.storage.commit import (
    MANIFEST_NAME,
    PartitionLocation,
    StagedPartitionWriter,
    manifest_bytes,
    reached,
)
from pipelines.storage.files import ParquetFileSpec, RollingParquetWriter, WrittenFile

logger = logging.getLogger(__name__)

NEW, OLD = "new", "old"


class LocalPartitionWriter(StagedPartitionWriter):
    """Stages a partition in a local folder and swaps it in on `commit`."""

    def __init__(
        self,
        location: PartitionLocation,
        schema: pa.Schema,
        spec: ParquetFileSpec,
        *,
        sort_by: str | None = None,
    ) -> None:
        fs = location.fs
        token, stage = location.new_attempt(NEW, [NEW, OLD])
        self._old = location.work_area(OLD, token)
        fs.makedirs(stage, exist_ok=True)
        files = RollingParquetWriter(fs, stage, schema, spec, token=token, sort_by=sort_by)
        super().__init__(location, stage, files)

    def _publish(self, files: list[WrittenFile], manifest: dict[str, Any]) -> list[WrittenFile]:
        for file in files:
            os.rename(self.staged_path(file), f"{self.stage}/{file.name}")
        with open(f"{self.stage}/{MANIFEST_NAME}", "wb") as handle:
            handle.write(manifest_bytes(manifest, files))
        reached("staged")
        final = self.location.path
        os.makedirs(os.path.dirname(final), exist_ok=True)
        if os.path.exists(final):
            os.rename(final, self._old)
        reached("old-moved-aside")
        try:
            os.rename(self.stage, final)
        except OSError:
            # A failure (not a crash) must leave the previous version: put it back.
            if os.path.exists(self._old):
                os.rename(self._old, final)
            raise
        reached("swapped")
        try:
            if os.path.exists(self._old):
                self.location.fs.rm(self._old, recursive=True)
        except OSError as exc:
            # The new version is in place; the next attempt removes what is left.
            logger.warning("committed %s but could not clean up: %s", self.location.uri, exc)
        return files

    def _discard_stage(self) -> None:
        if self.location.fs.exists(self.stage):
            self.location.fs.rm(self.stage, recursive=True)
