"""Rows to write and ways to look at a store the way a `*.parquet` glob reader does."""

import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.storage.partitions import CommittedPartition, PartitionStore

SCHEMA = pa.schema(
    [
        pa.field("ts", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("n", pa.int64(), nullable=False),
        pa.field("version", pa.string()),
    ]
)
PARTITION = [("date", "2026-12-01"), ("hour", "13")]
EXPORT = "records"


def rows(version: str, count: int, start: int = 0) -> pa.Table:
    values = list(range(start, start + count))
    return pa.table(
        {
            "ts": pa.array([1_796_130_000_000_000 + v for v in values], pa.timestamp("us", "UTC")),
            "n": values,
            "version": [version] * count,
        },
        schema=SCHEMA,
    )


def visible_files(store: PartitionStore, under: str = EXPORT) -> list[str]:
    """What `<root>/<under>/**/*.parquet` matches, relative to the root."""
    base = f"{store.root}/{under}"
    store.fs.invalidate_cache()
    if not store.fs.exists(base):
        return []
    found = store.fs.find(base)
    return sorted(p.removeprefix(f"{store.root}/") for p in found if p.endswith(".parquet"))


def read_visible(store: PartitionStore, under: str = EXPORT) -> pa.Table:
    """Every visible file, read whole: a truncated or corrupt file fails here."""
    tables = [
        pq.read_table(f"{store.root}/{name}", filesystem=store.fs)
        for name in visible_files(store, under)
    ]
    return pa.concat_tables(tables) if tables else SCHEMA.empty_table()


def write_partition(
    store: PartitionStore, version: str, count: int, *, batch: int = 40
) -> CommittedPartition:
    """Export `count` rows of `version` into the partition, `batch` rows per write."""
    with store.writer(EXPORT, PARTITION, SCHEMA, sort_by="ts") as writer:
        for start in range(0, count, batch):
            writer.write(rows(version, min(batch, count - start), start))
        return writer.commit({"run_id": version, "partition": dict(PARTITION)})


def work_areas(store: PartitionStore) -> list[str]:
    """Whatever is left in the staging area (empty folders aside)."""
    base = f"{store.root}/_staging"
    store.fs.invalidate_cache()
    return sorted(store.fs.find(base)) if store.fs.exists(base) else []
