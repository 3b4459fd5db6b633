"""The S3 commit's failure paths: an error (not a crash) after the old version was deleted,
a delete that S3 refuses without failing, and uploads that a killed run left unfinished."""

from collections.abc import Callable
from typing import Any

import pytest

from pipelines.storage import commit
from pipelines.storage.partitions import PartitionStore, StorageError
from tests.storage.conftest import StoreFactory
from tests.storage.helpers import (
    EXPORT,
    PARTITION,
    SCHEMA,
    read_visible,
    visible_files,
    work_areas,
    write_partition,
)

pytestmark = pytest.mark.parametrize("backend", ["s3"])


def partition_path(store: PartitionStore) -> str:
    return store.partition_path(EXPORT, PARTITION)


def fail_when(
    store: PartitionStore, monkeypatch: pytest.MonkeyPatch, method: str, hit: Callable[..., bool]
) -> None:
    """Make `store.fs.<method>` raise OSError for the calls `hit` picks."""
    real = getattr(store.fs, method)

    def maybe_fail(*args: Any, **kwargs: Any) -> Any:
        if hit(*args):
            raise OSError(f"{method} refused by the test")
        return real(*args, **kwargs)

    monkeypatch.setattr(store.fs, method, maybe_fail)


def assert_previous_version_in_place(store: PartitionStore) -> None:
    """v1, the version each test wrote first, is what a reader sees, with its manifest."""
    assert read_visible(store).column("version").unique().to_pylist() == ["v1"]
    manifest = store.read_manifest(EXPORT, PARTITION, format="parquet")
    assert manifest is not None and manifest["run_id"] == "v1"


def test_a_failed_copy_puts_the_previous_version_back(
    make_store: StoreFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = make_store()
    write_partition(store, "v1", 5)
    before = visible_files(store)
    # Only the copy of the staged new file fails; saving and restoring the old one work.
    fail_when(store, monkeypatch, "copy", lambda source, target: ".new-" in source)
    with pytest.raises(StorageError, match=r"could not commit partition .*copy refused"):
        write_partition(store, "v2", 7)
    monkeypatch.undo()
    assert visible_files(store) == before
    assert_previous_version_in_place(store)
    assert work_areas(store) == []


def test_a_failed_manifest_write_puts_the_previous_version_back(
    make_store: StoreFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = make_store()
    write_partition(store, "v1", 5)
    fail_when(store, monkeypatch, "pipe_file", lambda path, *_: path.endswith("_manifest.json"))
    with pytest.raises(StorageError, match="pipe_file refused"):
        write_partition(store, "v2", 7)
    monkeypatch.undo()
    assert_previous_version_in_place(store)


def test_a_delete_that_s3_refuses_quietly_stops_the_commit(
    make_store: StoreFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DeleteObjects reports refused keys in its answer; s3fs does not raise for them."""
    store = make_store()
    write_partition(store, "v1", 5)
    before = visible_files(store)
    real_rm = store.fs.rm
    final = partition_path(store)

    def refuse_partition_objects(paths: Any, *args: Any, **kwargs: Any) -> Any:
        listed = [paths] if isinstance(paths, str) else list(paths)
        kept = [p for p in listed if not p.startswith(final + "/")]
        return real_rm(kept, *args, **kwargs) if kept else None

    monkeypatch.setattr(store.fs, "rm", refuse_partition_objects)
    with pytest.raises(StorageError, match=r"could not delete the previous version .*remain"):
        write_partition(store, "v2", 7)
    monkeypatch.undo()
    assert visible_files(store) == before  # never the new file beside the old one
    assert_previous_version_in_place(store)


def test_when_the_previous_version_cannot_be_put_back_the_error_says_where_it_is(
    make_store: StoreFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = make_store()
    write_partition(store, "v1", 5)
    final = partition_path(store)
    fail_when(store, monkeypatch, "copy", lambda source, target: target.startswith(final + "/"))
    with pytest.raises(StorageError, match=r"nor put its previous version back.*saved under"):
        write_partition(store, "v2", 7)
    monkeypatch.undo()
    # Nothing visible (an allowed state), and the saved copy kept for the next attempt.
    assert visible_files(store) == []
    saved = [path for path in work_areas(store) if ".old-" in path]
    assert saved and not any(path.endswith(".parquet") for path in saved)  # hidden names
    # The next attempt puts v1 back before anything else: even one that fails later.
    with store.writer(EXPORT, PARTITION, SCHEMA) as writer:
        writer.abort()
    assert_previous_version_in_place(store)
    assert work_areas(store) == []


class Terminated(BaseException):
    """Like Dagster's DagsterExecutionInterruptedError: not an Exception."""


def test_a_run_terminated_mid_commit_puts_the_previous_version_back(
    make_store: StoreFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = make_store()
    write_partition(store, "v1", 5)

    def terminate(step: str) -> None:
        if step == "old-deleted":
            raise Terminated

    monkeypatch.setattr(commit, "step_hook", terminate)
    with pytest.raises(Terminated):
        write_partition(store, "v2", 7)
    assert_previous_version_in_place(store)
    assert work_areas(store) == []


def test_uploads_a_killed_run_left_unfinished_are_aborted(make_store: StoreFactory) -> None:
    store = make_store()
    location = store.location(EXPORT, PARTITION)
    bucket, _, key = f"{location.work_area('new', 'dead')}/.part.inprogress".partition("/")
    store.fs.call_s3("create_multipart_upload", Bucket=bucket, Key=key)
    other = key.replace("hour=13", "hour=14")  # another partition's upload is not ours
    store.fs.call_s3("create_multipart_upload", Bucket=bucket, Key=other)

    write_partition(store, "v1", 5)
    uploads = store.fs.call_s3("list_multipart_uploads", Bucket=bucket).get("Uploads", [])
    assert [upload["Key"] for upload in uploads] == [other]


def test_a_role_that_cannot_list_uploads_still_exports(
    make_store: StoreFactory, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    store = make_store()
    fail_when(store, monkeypatch, "call_s3", lambda method, *_: "multipart" in method)
    write_partition(store, "v1", 5)
    assert read_visible(store).num_rows == 5
    assert "could not abort unfinished uploads" in caplog.text
