"""The commit of a partition on S3 (or any object store): no rename, so copy, then delete.

Every object is written whole (a multipart upload appears only when it completes), so no
reader ever sees a partial file. What S3 cannot do is change several objects at once. The
commit therefore goes:

1. stage: upload the files to `<root>/_staging/<export>/<partition>.new-<token>/` under
   in-progress names (outside the export's folder, and not `*.parquet` either);
2. delete every object under the partition's prefix (the old files and the old manifest)
   in one DeleteObjects request;
3. copy each staged file to `part-NNNNN-<token>.parquet` under the partition's prefix
   (a server-side copy: no data goes through this process);
4. write `_manifest.json`;
5. delete the staging prefix.

Old and new files are never visible together, so no row is ever seen twice. A reader that
globs `*.parquet` during a replace sees: the old files; then, while S3 works through the
delete, some of them; then none; then, after each copy, one more new file; then all of them.
A partition of one file (the usual case) goes old, none, new. A process killed before step 2
leaves the old version; after step 2 and before the first copy, nothing; after step 3, the
new version. Killed during step 3 of a partition of several files, it leaves some of the new
files visible (each complete) and no manifest until the next run replaces the partition:
exports that need multi-file partitions to change atomically on S3 should use `format: delta`.
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
    """Stages a partition under a hidden prefix and copies it into place on `commit`."""

    def __init__(
        self,
        location: PartitionLocation,
        schema: pa.Schema,
        spec: ParquetFileSpec,
        *,
        sort_by: str | None = None,
    ) -> None:
        token, stage = location.new_attempt(NEW, [NEW])
        files = RollingParquetWriter(location.fs, stage, schema, spec, token=token, sort_by=sort_by)
        super().__init__(location, stage, files)

    def _publish(self, files: list[WrittenFile], manifest: dict[str, Any]) -> list[WrittenFile]:
        fs, final = self.location.fs, self.location.path
        fs.invalidate_cache(final)
        # Everything under the prefix goes: the previous files and manifest, and any files
        # that a run killed half-way through its copies left there.
        previous = fs.find(final)
        reached("staged")
        if previous:
            fs.rm(previous)
        reached("old-deleted")
        for index, file in enumerate(files):
            fs.copy(self.staged_path(file), f"{final}/{file.name}")
            if index == 0:
                reached("first-file-placed")
        reached("files-placed")
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
