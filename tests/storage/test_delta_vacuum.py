"""Vacuuming a Delta table: replaced versions' files and a killed export's files go."""

import pyarrow.parquet as pq
from deltalake import DeltaTable

from pipelines.storage.partitions import PartitionStore
from tests.storage.conftest import StoreFactory
from tests.storage.helpers import PARTITION, SCHEMA, rows

EXPORT = "records"


def write(store: PartitionStore, version: str) -> None:
    with store.writer(EXPORT, PARTITION, SCHEMA, format="delta", sort_by="ts") as writer:
        writer.write(rows(version, 20))
        writer.commit({"run_id": version, "partition": dict(PARTITION)})


def data_files(store: PartitionStore) -> set[str]:
    store.fs.invalidate_cache()
    folder = store.partition_path(EXPORT, PARTITION)
    return {path for path in store.fs.find(folder) if path.endswith(".parquet")}


def test_there_is_nothing_to_vacuum_before_the_first_export(make_store: StoreFactory) -> None:
    assert make_store().vacuum_delta(EXPORT, retention_hours=0) is None


def test_a_vacuum_keeps_only_the_current_versions_files(make_store: StoreFactory) -> None:
    store = make_store()
    write(store, "v1")
    first = data_files(store)
    write(store, "v2")
    current = data_files(store) - first
    # A killed export's upload: in the table's folder, in no version of the log.
    orphan = f"{store.partition_path(EXPORT, PARTITION)}/part-00000-killed.parquet"
    with store.fs.open(orphan, "wb") as handle:
        pq.write_table(rows("killed", 3), handle)

    # Within the retention, everything stays (time travel to v1 still works).
    assert store.vacuum_delta(EXPORT, retention_hours=1) == []
    assert data_files(store) == first | current | {orphan}

    removed = store.vacuum_delta(EXPORT, retention_hours=0)
    assert removed is not None and len(removed) == len(first) + 1
    assert data_files(store) == current
    options = store.delta_storage_options()
    table = DeltaTable(store.table_uri(EXPORT), storage_options=options).to_pyarrow_table()
    assert table.column("version").unique().to_pylist() == ["v2"]
