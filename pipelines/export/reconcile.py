"""Reconciliation: which recent partitions no longer match the server.

Logfire writes a span's row when the span ends, under its original start time, and accepts
start times up to 24 hours old; so an hour of event time keeps gaining rows for up to a day.
Reconciliation asks the server for the row count of every recent partition, with ONE
grouped query per UTC day, and compares each count with what the partition's manifest
recorded. A partition whose counts differ (or that was never exported) has drifted and is
exported again, which replaces it.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

import pyarrow as pa
import pyarrow.compute as pc

from pipelines.export.queries import ExportQueries
from pipelines.export.runner import partition_values, same_export
from pipelines.export.spec import ExportSpec
from pipelines.export.window import TimeWindow
from pipelines.query_api import MAX_ROW_LIMIT, QueryClient
from pipelines.storage.partitions import PartitionStore

DAY = timedelta(days=1)


@dataclass(frozen=True)
class PartitionState:
    """A partition as the server and the output see it now."""

    window: TimeWindow
    server_rows: int
    # None: the partition has never been exported (no manifest).
    exported_rows: int | None
    # Whether the export was written by the export's current query (same columns, filter).
    same_query: bool = True

    @property
    def drifted(self) -> bool:
        """The export lacks rows the server has, or has rows the server no longer has.

        A partition never exported counts only if the server has rows for it: an empty
        hour nobody exported is not worth a run.
        """
        if self.exported_rows is None:
            return self.server_rows > 0
        return self.exported_rows != self.server_rows

    @property
    def needs_export(self) -> bool:
        """Drifted, and a re-export would bring the partition in line with the server.

        Not when the server has fewer rows for an unchanged query: the runner refuses to
        shrink such a partition (rows past Logfire's retention stay archived), so a request
        would only fail again at every tick. The drift still shows in the observations.
        """
        if not self.drifted:
            return False
        shrank = self.exported_rows is not None and self.server_rows < self.exported_rows
        return not (shrank and self.same_query)

    @property
    def missing_rows(self) -> int:
        """Rows on the server that the export does not have yet (negative if it has more)."""
        return self.server_rows - (self.exported_rows or 0)


def partition_length(spec: ExportSpec) -> timedelta:
    return timedelta(hours=1) if spec.partitions == "hourly" else DAY


def settled_windows(spec: ExportSpec, now: datetime, lookback_days: int) -> list[TimeWindow]:
    """The partitions that started in the last `lookback_days` days and have settled."""
    length = partition_length(spec)
    epoch = datetime.combine(spec.start, time(), UTC)
    # Partitions are aligned on the export's start; round the lookback up to one of them.
    first = max(epoch + -((epoch - (now - lookback_days * DAY)) // length) * length, epoch)
    windows = []
    start = first
    while start + length + spec.effective_settle_delay <= now:
        windows.append(TimeWindow(start, start + length))
        start += length
    return windows


def server_counts(
    client: QueryClient, spec: ExportSpec, windows: Iterable[TimeWindow]
) -> dict[datetime, int]:
    """Row counts per partition start, one grouped query per UTC day the windows touch."""
    counts: dict[datetime, int] = {}
    days = sorted({w.start.replace(hour=0, minute=0, second=0, microsecond=0) for w in windows})
    for day in days:
        counts.update(_count_day(client, spec, day))
    return counts


def partition_states(
    client: QueryClient,
    store: PartitionStore,
    spec: ExportSpec,
    now: datetime,
    lookback_days: int,
) -> list[PartitionState]:
    """Every settled recent partition with the server's count and the exported count."""
    windows = settled_windows(spec, now, lookback_days)
    counts = server_counts(client, spec, windows)
    # All at once: a Delta table's history is read once, not once per partition.
    manifests = store.read_manifests(
        spec.name, [partition_values(spec, w) for w in windows], format=spec.format
    )
    queries = ExportQueries(spec)
    states = []
    for window, manifest in zip(windows, manifests, strict=True):
        exported = int(manifest["rows"]) if manifest is not None else None
        same_query = manifest is None or same_export(
            manifest, spec, queries.rows(window.start, window.end)
        )
        states.append(PartitionState(window, counts.get(window.start, 0), exported, same_query))
    return states


def _count_day(client: QueryClient, spec: ExportSpec, day: datetime) -> dict[datetime, int]:
    width_us = partition_length(spec) // timedelta(microseconds=1)
    sql = ExportQueries(spec).histogram(day, day + DAY, width_us)
    hint_start, hint_end = spec.hint_window(day, day + DAY)
    table = client.query_arrow(
        sql, min_timestamp=hint_start, max_timestamp=hint_end, limit=MAX_ROW_LIMIT
    )
    buckets = pc.cast(table.column("bucket"), pa.timestamp("us", tz="UTC")).to_pylist()
    return dict(zip(buckets, table.column("rows").to_pylist(), strict=True))
