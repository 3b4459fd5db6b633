"""The commit of a partition on S3 (or any object store): no rename, so copy, then delete.

Every object is written whole (a multipart upload appears only when it completes), so no
reader ever sees a partial file. What S3 cannot do is change several objects at once, so a
plain-Parquet partition on an object store is always ONE file: however many rows it has, it
is written as one object of many row groups (`ParquetFileSpec.in_one_file`), and the
`max_rows_per_file` rollover applies on local disk and in Delta tables only. With one file,
a replace has no state in which part of a version is visible. The commit goes:

1. stage: upload the file to `<root>/_staging/<export>/<partition>.new-<token>/` under an
   in-progress name (outside the export's folder, and not `*.parquet` either);
2. delete every object under the partition's prefix (the old file, the old manifest, and
   anything an older layout or a killed run left there) in one DeleteObjects request;
3. copy the staged file to `part-00000-<token>.parquet` under the partition's prefix
   (a server-side copy: no data goes through this process; atomic like any upload);
4. write `_manifest.json`;
5. delete the staging prefix.

A reader that globs `*.parquet` during a replace sees the old file, then (between the delete
and the copy) none, then the new one: never both, never part of either. A process killed
before step 2 leaves the old version; after step 2 and before step 3, nothing; after step 3,
the new version (without its manifest until step 4). The next run replaces whatever is there
and removes the work areas of killed runs.
"""

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

NEW = "new"


class ObjectStorePartitionWriter(StagedPartitionWriter):
    """Stages a partition as one object under a hidden prefix and copies it into place."""

    def __init__(
        self,
        location: PartitionLocation,
        schema: pa.Schema,
        spec: ParquetFileSpec,
        *,
        sort_by: str | None = None,
    ) -> None:
        token, stage = location.new_attempt(NEW, [NEW])
        one_file = spec.in_one_file()
        files = RollingParquetWriter(
            location.fs, stage, schema, one_file, token=token, sort_by=sort_by
        )
        super().__init__(location, stage, files)

    def _publish(self, files: list[WrittenFile], manifest: dict[str, Any]) -> list[WrittenFile]:
        [file] = files  # `in_one_file`: the writer never rolls over
        fs, final = self.location.fs, self.location.path
        fs.invalidate_cache(final)
        # Everything under the prefix goes, in one request: the previous file and manifest,
        # and whatever a killed run (or an older, multi-file layout) left there.
        previous = fs.find(final)
        reached("staged")
        if previous:
            fs.rm(previous)
        reached("old-deleted")
        fs.copy(self.staged_path(file), f"{final}/{file.name}")
        reached("file-placed")
        fs.pipe_file(f"{final}/{MANIFEST_NAME}", manifest_bytes(manifest, files))
        reached("manifest-written")
        self._discard_stage()
        fs.invalidate_cache(final)
        return files

    def _discard_stage(self) -> None:
        fs = self.location.fs
        fs.invalidate_cache(self.stage)
        staged = fs.find(self.stage)
        if staged:
            fs.rm(staged)
