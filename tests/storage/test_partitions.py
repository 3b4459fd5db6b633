"""Staged writes and the replace-on-commit of a partition, on local disk and on moto S3."""

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.storage import commit, exchange
from pipelines.storage.files import ParquetFileSpec, SchemaMismatchError
from pipelines.storage.partitions import PartitionStore, StorageError, read_partition
from tests.storage.conftest import StoreFactory
from tests.storage.helpers import (
    EXPORT,
    PARTITION,
    SCHEMA,
    read_visible,
    rows,
    visible_files,
    work_areas,
    write_partition,
)

PARTITION_DIR = "records/date=2026-12-01/hour=13"


def test_commit_writes_hive_layout_and_manifest(make_store: StoreFactory) -> None:
    store = make_store()
    with store.writer(EXPORT, PARTITION, SCHEMA) as writer:
        writer.write(rows("v1", 3))
        committed = writer.commit({"run_id": "r1"})
    [name] = visible_files(store)
    assert name.startswith(f"{PARTITION_DIR}/part-00000-") and name.endswith(".parquet")
    assert committed.rows == 3
    assert committed.uri == store.fs.unstrip_protocol(f"{store.root}/{PARTITION_DIR}")
    manifest = store.read_manifest(EXPORT, PARTITION, format="parquet")
    assert manifest is not None and manifest["run_id"] == "r1"
    assert manifest["files"] == [
        {"name": name.rpartition("/")[2], "rows": 3, "bytes": committed.bytes}
    ]
    assert committed.bytes == store.fs.size(f"{store.root}/{name}")
    with store.fs.open(f"{store.root}/{name}", "rb") as handle:
        assert pq.read_metadata(handle).row_group(0).column(0).compression == "ZSTD"
    assert work_areas(store) == []


def test_recommit_replaces_and_never_duplicates(make_store: StoreFactory, backend: str) -> None:
    store = make_store(ParquetFileSpec(row_group_rows=40, max_rows_per_file=100))
    write_partition(store, "v1", 250)
    assert len(visible_files(store)) == (3 if backend == "local" else 1)
    write_partition(store, "v2", 120)
    table = read_partition(store, EXPORT, PARTITION)
    assert table.column("version").unique().to_pylist() == ["v2"]
    assert table.column("n").to_pylist() == list(range(120))
    assert len(visible_files(store)) == (2 if backend == "local" else 1)
    assert work_areas(store) == []


def test_a_failure_before_commit_keeps_the_previous_contents(make_store: StoreFactory) -> None:
    store = make_store()
    write_partition(store, "v1", 5)
    before = visible_files(store)
    with pytest.raises(RuntimeError, match="boom"), store.writer(EXPORT, PARTITION, SCHEMA) as w:
        w.write(rows("v2", 7))
        raise RuntimeError("boom")
    assert visible_files(store) == before
    assert read_visible(store).column("version").unique().to_pylist() == ["v1"]
    assert work_areas(store) == []


def test_an_empty_partition_still_has_the_schema(make_store: StoreFactory) -> None:
    store = make_store()
    with store.writer(EXPORT, PARTITION, SCHEMA) as writer:
        committed = writer.commit({})
    assert committed.rows == 0 and len(committed.files) == 1
    table = read_partition(store, EXPORT, PARTITION)
    assert table.num_rows == 0 and table.schema.equals(SCHEMA)


def row_group_sizes(store: PartitionStore, name: str) -> list[int]:
    with store.fs.open(f"{store.root}/{name}", "rb") as handle:
        metadata = pq.read_metadata(handle)
    return [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)]


def test_files_roll_over_on_local_disk_and_row_groups_are_whole(tmp_path: Path) -> None:
    spec = ParquetFileSpec(row_group_rows=4, max_rows_per_file=10)
    store = PartitionStore(str(tmp_path), file_spec=spec)
    committed = write_partition(store, "v1", 25, batch=5)
    assert [f.rows for f in committed.files] == [10, 10, 5]
    assert read_partition(store, EXPORT, PARTITION).column("n").to_pylist() == list(range(25))
    # Groups of 4 until the file's cap cuts one short; no group is a leftover of a write.
    assert row_group_sizes(store, visible_files(store)[0]) == [4, 4, 2]


@pytest.mark.parametrize("backend", ["s3"])
def test_an_s3_partition_is_one_file_whatever_its_size(make_store: StoreFactory) -> None:
    # S3 can replace one object atomically but never several: no rollover there.
    store = make_store(ParquetFileSpec(row_group_rows=4, max_rows_per_file=10))
    committed = write_partition(store, "v1", 25, batch=5)
    [name] = visible_files(store)
    assert [f.rows for f in committed.files] == [25]
    assert row_group_sizes(store, name) == [4, 4, 4, 4, 4, 4, 1]
    assert read_partition(store, EXPORT, PARTITION).column("n").to_pylist() == list(range(25))


def test_rows_are_ordered_by_the_cursor_in_each_row_group(make_store: StoreFactory) -> None:
    store = make_store()
    shuffled = rows("v1", 6).take([3, 0, 5, 1, 4, 2])
    with store.writer(EXPORT, PARTITION, SCHEMA, sort_by="ts") as writer:
        writer.write(shuffled)
        writer.commit({})
    assert read_partition(store, EXPORT, PARTITION).column("n").to_pylist() == list(range(6))


def test_staged_files_are_invisible_until_the_commit(
    make_store: StoreFactory, backend: str
) -> None:
    store = make_store(ParquetFileSpec(row_group_rows=10, max_rows_per_file=20))
    write_partition(store, "v1", 5)
    before = visible_files(store)
    with store.writer(EXPORT, PARTITION, SCHEMA) as writer:
        writer.write(rows("v2", 50))  # on local disk, two files closed and one open
        assert visible_files(store) == before
        assert visible_files(store, under="") == before  # not even a glob over the root
        staged = [p.rpartition("/")[2] for p in work_areas(store)]
        assert all(n.startswith(".") and n.endswith(".inprogress") for n in staged)
        # s3fs holds an open file in memory until it fills an upload block or is closed.
        assert staged or backend == "s3"
        writer.commit({})
    assert read_visible(store).column("version").unique().to_pylist() == ["v2"]


def observe_each_step(
    store: PartitionStore, monkeypatch: pytest.MonkeyPatch
) -> dict[str, tuple[list[str], int]]:
    """What a reader sees (versions, rows) at each step a commit marks, filled in as it runs."""
    seen: dict[str, tuple[list[str], int]] = {}

    def observe(step: str) -> None:
        table = read_visible(store)
        seen[step] = (sorted(set(table.column("version").to_pylist())), table.num_rows)

    monkeypatch.setattr(commit, "step_hook", observe)
    return seen


def test_what_a_reader_sees_at_each_step_of_a_replace(
    make_store: StoreFactory, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The windows the README describes, observed at every step of a real commit."""
    store = make_store(ParquetFileSpec(row_group_rows=40, max_rows_per_file=100))
    write_partition(store, "v1", 150)
    seen = observe_each_step(store, monkeypatch)
    write_partition(store, "v2", 250)
    if backend == "local":
        # The atomic folder exchange: no moment without files.
        assert seen == {
            "files-written": (["v1"], 150),
            "staged": (["v1"], 150),
            "swapped": (["v2"], 250),
        }
    else:
        assert seen == {
            "files-written": (["v1"], 150),
            "staged": (["v1"], 150),
            "old-saved": (["v1"], 150),
            "old-deleted": ([], 0),
            "file-placed": (["v2"], 250),
            "manifest-written": (["v2"], 250),
        }


def test_without_the_exchange_two_renames_leave_a_moment_without_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = PartitionStore(str(tmp_path), file_spec=ParquetFileSpec(max_rows_per_file=100))
    write_partition(store, "v1", 150)
    seen = observe_each_step(store, monkeypatch)
    monkeypatch.setattr(exchange, "enabled", False)
    write_partition(store, "v2", 250)
    assert seen == {
        "files-written": (["v1"], 150),
        "staged": (["v1"], 150),
        "old-moved-aside": ([], 0),
        "swapped": (["v2"], 250),
    }
    assert work_areas(store) == []


def test_leftovers_of_a_crashed_run_are_removed(make_store: StoreFactory) -> None:
    store = make_store()
    leftover = f"{store.root}/_staging/records/date=2026-12-01.hour=13.new-dead/.x.inprogress"
    other = f"{store.root}/_staging/records/date=2026-12-01.hour=14.new-live/.y.inprogress"
    for path, content in [(leftover, b"partial"), (other, b"another partition's")]:
        store.fs.makedirs(path.rpartition("/")[0], exist_ok=True)
        store.fs.pipe_file(path, content)
    write_partition(store, "v1", 3)
    assert [p.rpartition("/")[2] for p in work_areas(store)] == [".y.inprogress"]


def test_rows_with_the_wrong_schema_are_refused(make_store: StoreFactory) -> None:
    store = make_store()
    with store.writer(EXPORT, PARTITION, SCHEMA) as writer:
        with pytest.raises(SchemaMismatchError, match="missing columns: version"):
            writer.write(pa.table({"ts": rows("v", 1).column("ts"), "n": [1]}))
        writer.abort()
    assert visible_files(store) == [] and work_areas(store) == []


def test_a_failed_swap_puts_the_previous_version_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = PartitionStore(str(tmp_path))
    write_partition(store, "v1", 5)
    monkeypatch.setattr(exchange, "enabled", False)  # the fallback is what can half-fail
    real_rename = os.rename
    final = store.partition_path(EXPORT, PARTITION)

    def failing_rename(source: str, target: str) -> None:
        # The old folder has moved aside; moving the staged one into its place fails.
        if target == final and ".new-" in source:
            raise OSError("disk says no")
        real_rename(source, target)

    monkeypatch.setattr(os, "rename", failing_rename)
    with pytest.raises(StorageError, match=r"could not commit partition .*disk says no"):
        write_partition(store, "v2", 7)
    assert read_visible(store).column("version").unique().to_pylist() == ["v1"]
    manifest = store.read_manifest(EXPORT, PARTITION, format="parquet")
    assert manifest is not None and manifest["run_id"] == "v1"


def test_the_rows_a_partition_holds_are_counted_from_its_footers(make_store: StoreFactory) -> None:
    store = make_store(ParquetFileSpec(row_group_rows=40, max_rows_per_file=100))
    assert store.current_rows(EXPORT, PARTITION, format="parquet") is None
    write_partition(store, "v1", 250)
    assert store.current_rows(EXPORT, PARTITION, format="parquet") == 250
