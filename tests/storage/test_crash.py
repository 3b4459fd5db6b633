"""SIGKILL during a partition's commit: the partition is the old version, nothing, or the
new version; never a corrupt file or old and new rows together. The next run cleans up.

Each case seeds version v1 in this process, runs `crash_child` (which writes v2 and kills
itself at one step), looks at what a reader would see, then exports v3 here.
"""

import signal
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable

from pipelines.storage.delta import spool_folder
from pipelines.storage.partitions import OutputFormat, PartitionStore
from tests.storage.conftest import StoreFactory
from tests.storage.crash_child import CHILD_ROWS, CHILD_VERSION, FILE_SPEC
from tests.storage.helpers import EXPORT, PARTITION, SCHEMA, read_visible, rows, work_areas
from tests.storage.s3_server import FAKE_CREDENTIALS, clear_s3fs_caches

PROJECT = Path(__file__).resolve().parents[2]
OLD_ROWS, NEXT_ROWS = 150, 60
# Unlike the others, this kill races `write_deltalake`: it may land before or after the commit.
OLD_OR_NEW = "old or new"

# Local steps: with the atomic folder exchange (Linux), and with the two-rename fallback.
TWO_RENAMES = "two renames"
CASES: list[tuple[str, OutputFormat, str, str]] = [
    ("local", "parquet", "writing", "old"),
    ("local", "parquet", "staged", "old"),
    ("local", "parquet", "swapped", "new"),
    (TWO_RENAMES, "parquet", "staged", "old"),
    (TWO_RENAMES, "parquet", "old-moved-aside", "nothing"),
    (TWO_RENAMES, "parquet", "swapped", "new"),
    ("s3", "parquet", "writing", "old"),
    ("s3", "parquet", "staged", "old"),
    ("s3", "parquet", "old-saved", "old"),
    ("s3", "parquet", "old-deleted", "nothing"),
    ("s3", "parquet", "file-placed", "new"),
    ("s3", "parquet", "manifest-written", "new"),
    ("local", "delta", "writing", "old"),
    ("local", "delta", "in-delta-write", OLD_OR_NEW),
    ("local", "delta", "committed", "new"),
    ("s3", "delta", "writing", "old"),
    ("s3", "delta", "in-delta-write", OLD_OR_NEW),
    ("s3", "delta", "committed", "new"),
]


def export(store: PartitionStore, format: OutputFormat, version: str, count: int) -> None:
    with store.writer(EXPORT, PARTITION, SCHEMA, format=format, sort_by="ts") as writer:
        for start in range(0, count, 50):
            writer.write(rows(version, min(50, count - start), start))
        writer.commit({"run_id": version, "partition": dict(PARTITION)})


def reader_view(store: PartitionStore, format: OutputFormat) -> pa.Table:
    """The rows a reader gets: every visible file read whole, or the Delta table's version."""
    clear_s3fs_caches()
    if format == "parquet":
        return read_visible(store)
    storage = store.delta_storage_options()  # None for a local root
    options = None if storage is None else {**FAKE_CREDENTIALS, **storage}
    return DeltaTable(store.table_uri(EXPORT), storage_options=options).to_pyarrow_table()


def what_a_reader_sees(store: PartitionStore, format: OutputFormat) -> tuple[str, bool]:
    """The partition's state as a reader sees it, and whether it has a commit record."""
    table = reader_view(store, format)
    versions = set(table.column("version").to_pylist())
    manifest = store.read_manifest(EXPORT, PARTITION, format=format) is not None
    if not versions:
        return "nothing", manifest
    assert len(versions) == 1, f"a reader sees a mix of versions: {sorted(versions)}"
    counts = {"v1": OLD_ROWS, CHILD_VERSION: CHILD_ROWS}
    [version] = versions
    numbers = table.column("n").to_pylist()
    assert len(numbers) == len(set(numbers)), "a reader sees a row twice"
    if version == "v1":
        assert table.num_rows == OLD_ROWS, "a reader sees part of the old version"
        return "old", manifest
    assert table.num_rows == counts[version], "a reader sees part of the new version"
    return "new", manifest


def spool_leftovers(store: PartitionStore) -> list[Path]:
    """Whatever is left of this partition's Delta spools (work areas under the spool root)."""
    flat = ".".join(f"{k}={v}" for k, v in PARTITION)
    return list(Path(spool_folder(store.table_uri(EXPORT))).rglob(f"{flat}.*"))


@pytest.mark.parametrize(
    ("backend", "format", "step", "expected"),
    CASES,
    ids=[f"{b}-{f}-{s}" for b, f, s, _ in CASES],
)
def test_a_killed_export_leaves_old_nothing_or_new_and_the_next_run_completes(
    make_store: StoreFactory, backend: str, format: OutputFormat, step: str, expected: str
) -> None:
    store = make_store(FILE_SPEC)
    export(store, format, "v1", OLD_ROWS)
    command = [sys.executable, "-m", "tests.storage.crash_child", store.root_uri, format, step]
    if store.s3.endpoint_url:
        command += ["--endpoint", store.s3.endpoint_url]
    if backend == TWO_RENAMES:  # a local store (make_store), committing without the exchange
        command.append("--two-renames")
    child = subprocess.run(command, cwd=PROJECT, capture_output=True, text=True, check=False)
    assert child.returncode == -signal.SIGKILL, child.stderr

    state, has_manifest = what_a_reader_sees(store, format)
    if expected == OLD_OR_NEW:
        assert state in ("old", "new")
    else:
        assert state == expected
    if state == "old":
        assert has_manifest  # the old version's commit record stays with it
    if format == "delta" and step == "writing":
        assert spool_leftovers(store)  # the killed run's spool, for the next run to remove
    if backend == "s3" and step == "old-deleted":
        # The next attempt puts the saved v1 back first, whatever becomes of it.
        with store.writer(EXPORT, PARTITION, SCHEMA, format=format) as writer:
            writer.abort()
        assert what_a_reader_sees(store, format) == ("old", True)

    export(store, format, "v3", NEXT_ROWS)
    table = reader_view(store, format)
    assert table.column("version").unique().to_pylist() == ["v3"]
    assert table.num_rows == NEXT_ROWS
    assert work_areas(store) == [] and spool_leftovers(store) == []
    manifest = store.read_manifest(EXPORT, PARTITION, format=format)
    assert manifest is not None and manifest["run_id"] == "v3"
