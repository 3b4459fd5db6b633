"""The commit of a partition on local disk: a directory swap.

The new version is staged in `<root>/_staging/<export>/<partition>.new-<token>/`. Its files
are written under in-progress names and renamed to their final names once complete, the
manifest is written last, and then the staged folder takes the partition folder's place:

- where the kernel can (Linux), in one atomic exchange of the two folders (`exchange.py`):
  a reader globbing `<root>/<export>/**/*.parquet` sees the old files, then the new ones,
  with no moment in between; the old version, now in the staging area, is deleted;
- elsewhere, by two renames: the partition's folder to `<partition>.old-<token>` in the
  staging area, then the staged folder to the partition's folder; between the two
  (microseconds) a reader sees no files for the partition.

Either way a reader never sees both versions or a partial file, and every rename stays on
the root's filesystem. This protects against a killed process, not a power cut: nothing is
fsynced.
"""

import os
from typing import Any

import pyarrow as pa

from pipelines.storage.commit import (
    MANIFEST_NAME,
    NEW,
    OLD,
    PartitionLocation,
    StagedPartitionWriter,
    manifest_bytes,
    reached,
)
from pipelines.storage.exchange import exchange
from pipelines.storage.files import ParquetFileSpec, RollingParquetWriter, WrittenFile


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
        if os.path.exists(final) and exchange(self.stage, final):
            reached("swapped")
            # The staged folder's name now holds the previous version.
            self._remove_work_areas(self.stage)
            return files
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
        self._remove_work_areas(self._old)
        return files

    def _discard_stage(self) -> None:
        self._remove_work_areas(self.stage)
