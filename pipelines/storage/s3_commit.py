"""The commit of a partition on S3 (or any object store): no rename, so copy, then delete.

Every object is written whole (a multipart upload appears only when it completes), so no
reader ever sees a partial file. What S3 cannot do is change several objects at once, so a
plain-Parquet partition on an object store is always ONE file: however many rows it has, it
is written as one object of many row groups (`ParquetFileSpec.in_one_file`), and the
`max_rows_per_file` rollover applies on local disk only. With one file, a replace has no
state in which part of a version is visible. The commit goes:

1. stage: upload the file to `<root>/_staging/<export>/<partition>.new-<token>/` under an
   in-progress name (outside the export's folder, and not `*.parquet` either);
2. save the previous version (server-side copies) to `<partition>.old-<token>/` beside it,
   so that a failure in the next steps can put it back;
3. delete every object under the partition's prefix (the old file, the old manifest, and
   anything an older layout or a killed run left there) in one DeleteObjects request, and
   check that the prefix is empty (DeleteObjects reports refused keys without failing);
4. copy the staged file to `part-00000-<token>.parquet` under the partition's prefix
   (a server-side copy: no data goes through this process; atomic like any upload);
5. write `_manifest.json`;
6. delete both work areas.

A reader that globs `*.parquet` during a replace sees the old file, then (between the delete
and the copy) none, then the new one: never both, never part of either. A process killed
before step 3 leaves the old version; after step 3 and before step 4, nothing; after step 4,
the new version (without its manifest until step 5). An error in steps 3 to 5 puts the
saved version back and fails the commit. The next attempt at the partition removes the work
areas (and any unfinished multipart uploads) that a killed run left.
"""

import logging
from typing import Any

import pyarrow as pa

from pipelines.storage.commit import (
    MANIFEST_NAME,
    PartitionLocation,
    StagedPartitionWriter,
    StorageError,
    manifest_bytes,
    reached,
)
from pipelines.storage.files import ParquetFileSpec, RollingParquetWriter, WrittenFile

logger = logging.getLogger(__name__)

NEW, OLD = "new", "old"


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
        abort_unfinished_uploads(location)
        token, stage = location.new_attempt(NEW, [NEW, OLD])
        self._saved = location.work_area(OLD, token)
        one_file = spec.in_one_file()
        files = RollingParquetWriter(
            location.fs, stage, schema, one_file, token=token, sort_by=sort_by
        )
        super().__init__(location, stage, files)

    def _publish(self, files: list[WrittenFile], manifest: dict[str, Any]) -> list[WrittenFile]:
        [file] = files  # `in_one_file`: the writer never rolls over
        fs, final = self.location.fs, self.location.path
        fs.invalidate_cache(final)
        previous = fs.find(final)
        reached("staged")
        saved = self._save_previous(previous)
        reached("old-saved")
        try:
            self._delete_all(previous)
            reached("old-deleted")
            fs.copy(self.staged_path(file), f"{final}/{file.name}")
            reached("file-placed")
            fs.pipe_file(f"{final}/{MANIFEST_NAME}", manifest_bytes(manifest, files))
            reached("manifest-written")
        except Exception as exc:
            self._restore_previous(saved, exc)
            raise
        try:
            self._discard_work_areas()
        except OSError as exc:
            # The new version is in place; what is left is the next attempt's to remove.
            logger.warning("committed %s but could not clean up: %s", self.location.uri, exc)
        return files

    def _save_previous(self, previous: list[str]) -> dict[str, str]:
        """Copy the partition's objects aside; returns {saved copy: original path}."""
        fs, final = self.location.fs, self.location.path
        saved = {f"{self._saved}/{path.removeprefix(final + '/')}": path for path in previous}
        for copy, original in saved.items():
            fs.copy(original, copy)
        return saved

    def _delete_all(self, previous: list[str]) -> None:
        """Empty the partition's prefix in one request, and make sure it is empty."""
        fs, final = self.location.fs, self.location.path
        if previous:
            fs.rm(previous)
        fs.invalidate_cache(final)
        left = fs.find(final)
        if left:
            # s3fs passes on DeleteObjects' per-key errors (a deny policy, an object lock)
            # silently; copying the new file now would put it beside the old one.
            raise StorageError(
                f"could not delete the previous version of partition {self.location.uri}: "
                f"{len(left)} object(s) remain, e.g. {left[0]}"
            )

    def _restore_previous(self, saved: dict[str, str], cause: Exception) -> None:
        """After an error (not a crash): put the saved version back, or say where it is."""
        fs, final = self.location.fs, self.location.path
        try:
            fs.invalidate_cache(final)
            placed = fs.find(final)
            if placed:
                fs.rm(placed)
            for copy, original in saved.items():
                fs.copy(copy, original)
        except Exception as exc:
            raise StorageError(
                f"could not commit partition {self.location.uri} ({cause}), nor put its "
                f"previous version back ({exc}); that version is saved under {self._saved} "
                "until the next run of the partition replaces it"
            ) from cause
        self._discard_work_areas()

    def _discard_work_areas(self) -> None:
        """Delete the staged file and the saved previous version (if any)."""
        fs = self.location.fs
        for area in (self.stage, self._saved):
            fs.invalidate_cache(area)
            leftovers = fs.find(area)
            if leftovers:
                fs.rm(leftovers)

    def _discard_stage(self) -> None:
        self._discard_work_areas()


def abort_unfinished_uploads(location: PartitionLocation) -> None:
    """Abort multipart uploads that killed runs left in this partition's work areas.

    An upload killed half-way is invisible but its parts are stored (and billed) until it
    is aborted; a bucket lifecycle rule would catch them too, but only days later.
    """
    fs = location.fs
    bucket, _, prefix = location.work_area_prefix.partition("/")
    uploads = fs.call_s3("list_multipart_uploads", Bucket=bucket, Prefix=prefix)
    for upload in uploads.get("Uploads", []):
        fs.call_s3(
            "abort_multipart_upload", Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"]
        )
