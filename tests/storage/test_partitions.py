"""Staged writes and the replace-on-commit of a local partition."""

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.storage.files import ParquetFileSpec, SchemaMismatchError
from pipelines.storage.partitions import PartitionStore, StorageError, read_partition

SCHEMA = pa.schema([pa.field("n", pa.int64(), nullable=False), pa.field("s", pa.string())])
PARTITION = [("date", "2026-12-01"), ("hour", "13")]


def rows(*values: int) -> pa.Table:
    return pa.table({"n": list(values), "s": [str(v) for v in values]}, schema=SCHEMA)


def visible_files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*.parquet"))


def test_commit_writes_hive_layout_and_manifest(tmp_path: Path) -> None:
    store = PartitionStore(str(tmp_path))
    with store.writer("records", PARTITION, SCHEMA) as writer:
        writer.write(rows(1, 2, 3))
        committed = writer.commit({"run_id": "r1"})
    assert visible_files(tmp_path) == ["records/date=2026-12-01/hour=13/part-00000.parquet"]
    assert committed.rows == 3
    assert committed.uri == f"file://{tmp_path}/records/date=2026-12-01/hour=13"
    manifest = store.read_manifest("records", PARTITION)
    assert manifest is not None
    assert manifest["run_id"] == "r1"
    assert manifest["files"] == [
        {"name": "part-00000.parquet", "rows": 3, "bytes": committed.bytes}
    ]
    metadata = pq.read_metadata(tmp_path / "records/date=2026-12-01/hour=13/part-00000.parquet")
    assert metadata.row_group(0).column(0).compression == "ZSTD"


def test_recommit_replaces_and_never_duplicates(tmp_path: Path) -> None:
    store = PartitionStore(str(tmp_path))
    for values in [(1, 2, 3), (4, 5)]:
        with store.writer("records", PARTITION, SCHEMA) as writer:
            writer.write(rows(*values))
            writer.commit({})
    assert read_partition(store, "records", PARTITION).column("n").to_pylist() == [4, 5]
    # No staging or old folders are left beside the partition.
    assert sorted(p.name for p in (tmp_path / "records/date=2026-12-01").iterdir()) == ["hour=13"]


def test_a_failure_before_commit_keeps_the_previous_contents(tmp_path: Path) -> None:
    store = PartitionStore(str(tmp_path))
    with store.writer("records", PARTITION, SCHEMA) as writer:
        writer.write(rows(1))
        writer.commit({})
    with pytest.raises(RuntimeError, match="boom"), store.writer("records", PARTITION, SCHEMA) as w:
        w.write(rows(7, 8))
        raise RuntimeError("boom")
    assert read_partition(store, "records", PARTITION).column("n").to_pylist() == [1]
    assert visible_files(tmp_path) == ["records/date=2026-12-01/hour=13/part-00000.parquet"]
    assert [p.name for p in (tmp_path / "records/date=2026-12-01").iterdir()] == ["hour=13"]


def test_an_empty_partition_still_has_the_schema(tmp_path: Path) -> None:
    store = PartitionStore(str(tmp_path))
    with store.writer("records", PARTITION, SCHEMA) as writer:
        committed = writer.commit({})
    assert committed.rows == 0
    table = read_partition(store, "records", PARTITION)
    assert table.num_rows == 0
    assert table.schema.equals(SCHEMA)


def test_files_roll_over_at_the_row_cap(tmp_path: Path) -> None:
    spec = ParquetFileSpec(row_group_rows=4, max_rows_per_file=10)
    store = PartitionStore(str(tmp_path), file_spec=spec)
    with store.writer("records", PARTITION, SCHEMA) as writer:
        for start in range(0, 25, 5):
            writer.write(rows(*range(start, start + 5)))
        committed = writer.commit({})
    assert [f.rows for f in committed.files] == [10, 10, 5]
    assert read_partition(store, "records", PARTITION).column("n").to_pylist() == list(range(25))


def test_leftovers_of_a_crashed_run_are_removed(tmp_path: Path) -> None:
    leftover = tmp_path / "records/date=2026-12-01/.hour=13.staging-dead"
    leftover.mkdir(parents=True)
    (leftover / "part-00000.parquet").write_bytes(b"partial")
    store = PartitionStore(str(tmp_path))
    with store.writer("records", PARTITION, SCHEMA) as writer:
        writer.commit({})
    assert not leftover.exists()


def test_rows_with_the_wrong_schema_are_refused(tmp_path: Path) -> None:
    store = PartitionStore(str(tmp_path))
    with store.writer("records", PARTITION, SCHEMA) as writer:
        with pytest.raises(SchemaMismatchError, match="missing columns: s"):
            writer.write(pa.table({"n": [1]}))
        writer.abort()
    assert visible_files(tmp_path) == []


def test_an_unwritable_root_is_reported_by_name(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    store = PartitionStore(str(blocker / "root"))
    with pytest.raises(StorageError, match="not writable"):
        store.check_writable()


def test_remote_roots_are_refused_until_supported() -> None:
    with pytest.raises(StorageError, match="S3 output is not implemented yet"):
        PartitionStore("s3://bucket/prefix")


def test_manifest_is_valid_json_on_disk(tmp_path: Path) -> None:
    store = PartitionStore(str(tmp_path))
    with store.writer("records", PARTITION, SCHEMA) as writer:
        writer.commit({"rows": 0})
    text = (tmp_path / "records/date=2026-12-01/hour=13/_manifest.json").read_text()
    assert json.loads(text)["rows"] == 0
