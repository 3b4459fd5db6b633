"""The commit of a partition on S3 (or any object store): no rename, so copy, then delete.

Every object is written whole (a multipart upload appears only when it completes), so no
reader ever sees a partial file. What S3 cannot do is change several objects at once, so a
plain-Parquet partition on an object store is always ONE file: however many rows it has, it
is written as one object of many row groups (`ParquetFileSpec.in_one_file`), and the
`max_rows_per_file` rollover applies on local disk only. With one file, a replace has no
state in which part of a version is visible. The commit goes:

1. stage: upload the file to `<root>/_staging/<export>/<partition>.new-<token>/` under an
   in-progress name (outside the export's folder, and not `*.parquet` either);
2. save the previous version (server-side copies, under hidden names that are not
   `*.parquet`) to `<partition>.old-<token>/` beside it, so that a failure in the next
   steps can put it back;
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
the new version (without its manifest until step 5). An error or a terminated run in steps
3 to 5 puts the saved version back and fails the commit. The next attempt at the partition
first puts back a saved version whose partition was left without a manifest, then removes
the work areas (and any unfinished multipart uploads) that a killed run left.
"""

import logging
from typing import Any

import pyarrow as pa

from pipelines.storage.commit import (
    MANIFEST_NAME,
    NEW,
    OLD,
    PartitionLocation,
    StagedPartitionWriter,
    StorageError,
    manifest_bytes,
    reached,
)
from pipelines.storage.files import (
    IN_PROGRESS_SUFFIX,
    ParquetFileSpec,
    RollingParquetWriter,
    WrittenFile,
    in_progress_name,
)

logger = logging.getLogger(__name__)


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
        recover_saved_version(location)
        token, stage = location.new_attempt(NEW, [NEW])
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
        except BaseException as exc:
            # BaseException too: a terminated Dagster run (DagsterExecutionInterruptedError)
            # between the delete and the copy must not leave the partition empty.
            self._restore_previous(saved, exc)
            raise
        self._remove_work_areas(self.stage, self._saved)
        return files

    def _save_previous(self, previous: list[str]) -> dict[str, str]:
        """Copy the partition's objects aside; returns {saved copy: original path}."""
        fs = self.location.fs
        saved = {f"{self._saved}/{saved_name(path)}": path for path in previous}
        for copy in commit_order(saved):
            fs.copy(saved[copy], copy)
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

    def _restore_previous(self, saved: dict[str, str], cause: BaseException) -> None:
        """After an error (not a crash): put the saved version back, or say where it is."""
        try:
            put_back(self.location, saved)
        except Exception as exc:
            raise StorageError(
                f"could not commit partition {self.location.uri} ({cause}), nor put its "
                f"previous version back ({exc}); that version is saved under "
                f"{self.location.fs.unstrip_protocol(self._saved)}, and the next run of the "
                "partition puts it back before anything else"
            ) from cause
        self._remove_work_areas(self._saved)

    def _discard_stage(self) -> None:
        # Only the stage: a saved previous version is dropped once it is back or replaced.
        self._remove_work_areas(self.stage)


def saved_name(path: str) -> str:
    """The name of an object's saved copy: hidden and not `*.parquet`, like staged files,
    so that not even a glob over the whole root reads a saved version twice."""
    return in_progress_name(path.rpartition("/")[2])


def original_name(saved: str) -> str:
    return saved.rpartition("/")[2].removeprefix(".").removesuffix(IN_PROGRESS_SUFFIX)


def commit_order(saved: dict[str, str]) -> list[str]:
    """The saved copies, data files first and the manifest last (by their original names):
    the manifest is what marks a version whole, wherever it is copied to."""
    return sorted(saved, key=lambda copy: (saved[copy].endswith(f"/{MANIFEST_NAME}"), copy))


def put_back(location: PartitionLocation, saved: dict[str, str]) -> None:
    """Empty the partition's prefix, then copy the saved objects to their original paths."""
    fs, final = location.fs, location.path
    fs.invalidate_cache(final)
    placed = fs.find(final)
    if placed:
        fs.rm(placed)
    for copy in commit_order(saved):
        fs.copy(copy, saved[copy])


def recover_saved_version(location: PartitionLocation) -> None:
    """Put back a previous version that a killed commit had deleted; drop other saves.

    A commit killed between its delete and its manifest leaves the partition without a
    manifest and the previous version (with its manifest) in a work area: that version
    goes back, so the partition is whole again even if this attempt fails. A saved copy of
    a version still in place, or one a later commit replaced, is only deleted.
    """
    fs, final = location.fs, location.path
    for area in location.leftover_work_areas([OLD]):
        fs.invalidate_cache(final)
        saved = fs.find(area)
        whole = f"{area}/{saved_name(MANIFEST_NAME)}" in saved
        if whole and not fs.exists(f"{final}/{MANIFEST_NAME}"):
            put_back(location, {path: f"{final}/{original_name(path)}" for path in saved})
            logger.warning("put back %s, which a killed commit had deleted", location.uri)
        if saved:
            fs.rm(saved)


def abort_unfinished_uploads(location: PartitionLocation) -> None:
    """Abort multipart uploads that killed runs left in this partition's work areas.

    An upload killed half-way is invisible but its parts are stored (and billed) until it
    is aborted. Best effort: a role without s3:ListBucketMultipartUploads or
    s3:AbortMultipartUpload still exports, and a bucket lifecycle rule that aborts
    incomplete uploads does the same job days later.
    """
    fs = location.fs
    bucket, _, prefix = location.work_area_prefix.partition("/")
    try:
        uploads = fs.call_s3("list_multipart_uploads", Bucket=bucket, Prefix=prefix)
        for upload in uploads.get("Uploads", []):
            fs.call_s3(
                "abort_multipart_upload",
                Bucket=bucket,
                Key=upload["Key"],
                UploadId=upload["UploadId"],
            )
    except OSError as exc:
        logger.warning("could not abort unfinished uploads under %s: %s", location.uri, exc)
