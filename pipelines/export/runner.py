"""Exporting one partition: plan the chunks, fetch them, write them, commit.

Nothing here knows about Dagster; the assets, the command line and the tests all call
`PartitionExporter.export`.
"""

import hashlib
import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from pipelines.export.planner import Chunk, ChunkPlanner
from pipelines.export.queries import KEY_ALIAS_PREFIX, ExportQueries
from pipelines.export.spec import ExportSpec
from pipelines.export.window import MICROSECOND, TimeWindow, iso_utc
from pipelines.query_api import (
    MAX_ROW_LIMIT,
    LogfireQueryError,
    QueryClient,
    QueryFailedError,
    ServerError,
)
from pipelines.storage.files import SchemaMismatchError, WrittenFile
from pipelines.storage.partitions import (
    PartitionStore,
    PartitionValues,
    PartitionWriter,
    StorageError,
)

logger = logging.getLogger(__name__)

# The run tag that lets a run replace a partition with fewer rows than it holds.
ALLOW_FEWER_ROWS_TAG = "logfire_export/allow_fewer_rows"
# A progress line every this many chunks (about 100,000 rows).
PROGRESS_EVERY = 10
# A chunk that still times out after the client's retries is split in two, down to this.
TIMEOUT_STATUSES = (503, 504)
MIN_SPLIT = timedelta(seconds=1)


class ExportError(RuntimeError):
    """An export of one partition failed; the message names the export and the window."""

    def __init__(self, export: str, window: TimeWindow, problem: str) -> None:
        super().__init__(f"export {export!r}, window {window}: {problem}")
        self.export = export
        self.window = window


@dataclass
class PartitionResult:
    """What exporting one partition did, for metadata, checks and the demo's table."""

    export: str
    window: TimeWindow
    uri: str
    rows: int
    files: list[WrittenFile]
    planned_rows: int
    chunks: int
    splits: int
    requests: int
    retries: int
    throttled: int
    duration_s: float
    # The rows the partition held before this export replaced it (None: never exported).
    previous_rows: int | None = None

    @property
    def bytes(self) -> int:
        return sum(f.bytes for f in self.files)


@dataclass
class _Progress:
    """Counters for one partition's export."""

    chunks: int = 0
    splits: int = 0
    rows: int = 0


class FewerRowsError(ValueError):
    """The server now has fewer rows for a partition than the export holds."""


@dataclass(frozen=True)
class KeptRows:
    """What a partition holds before an export replaces it, for the fewer-rows guard."""

    rows: int
    # Where the count comes from: the commit record, or the files when there is none.
    source: str


def definition_fingerprint(spec: ExportSpec) -> str:
    """What decides an export's rows: table, columns, filter and cursor, hashed.

    Stored in each manifest; unlike the rendered SQL it does not change when this project
    changes how it writes queries.
    """
    described = [spec.table, spec.selected_columns, spec.where, spec.time_column]
    return hashlib.sha256(json.dumps(described).encode()).hexdigest()[:16]


def same_export(record: dict[str, Any], spec: ExportSpec, query: str) -> bool:
    """Whether a commit record was written by the export as `spec` defines it now."""
    if "definition" in record:
        return bool(record["definition"] == definition_fingerprint(spec))
    return bool(record.get("query") == query)  # a record from before fingerprints


def _refuse_fewer_rows(kept: KeptRows | None, rows: int) -> None:
    """Refuse to replace a partition with fewer rows than the same export wrote before.

    Logfire only ever adds rows to a window (late data); fewer rows for the same export mean
    that the server dropped some, past its retention most likely (30 days on some plans).
    This export exists to keep telemetry beyond that retention, so an ordinary re-run or
    backfill must not overwrite the archived rows with what is left. A changed export (other
    columns or filter) may shrink a partition freely.
    """
    if kept is not None and rows < kept.rows:
        raise FewerRowsError(
            f"the server now has {rows} rows for this window, but the partition holds "
            f"{kept.rows} ({kept.source}); replacing it would lose rows Logfire no longer "
            "returns (past its retention?), so it was left as it is. To replace it anyway, "
            f"run with the tag {ALLOW_FEWER_ROWS_TAG}=true "
            "(logfire-export backfill --allow-fewer-rows)"
        )


def partition_values(spec: ExportSpec, window: TimeWindow) -> PartitionValues:
    """The Hive partition of a window: `date=YYYY-MM-DD` and, for hourly exports, `hour=HH`."""
    values = [("date", window.start.strftime("%Y-%m-%d"))]
    if spec.partitions == "hourly":
        values.append(("hour", window.start.strftime("%H")))
    return values


def schema_fingerprint(schema: pa.Schema) -> str:
    """A short hash of names, types and nullability: equal fingerprints, compatible files."""
    described = [(f.name, str(f.type), f.nullable) for f in schema]
    return hashlib.sha256(json.dumps(described).encode()).hexdigest()[:16]


class PartitionExporter:
    """Exports partitions of any export through one client into one store."""

    def __init__(
        self,
        client: QueryClient,
        store: PartitionStore,
        *,
        limit: int = MAX_ROW_LIMIT,
        log: logging.Logger = logger,
    ) -> None:
        self.client = client
        self.store = store
        self.limit = limit
        self.log = log

    def export(
        self,
        spec: ExportSpec,
        window: TimeWindow,
        *,
        run_id: str,
        allow_fewer_rows: bool = False,
    ) -> PartitionResult:
        """Replace the partition for `window` with every row the server holds for it.

        On any failure nothing of this attempt is visible: the previous contents stay. A
        partition is not replaced by fewer rows than the same query exported before (see
        `fewer_rows_problem`) unless `allow_fewer_rows`.
        """
        started = time.monotonic()
        before = self.client.stats.snapshot()
        queries = ExportQueries(spec)
        partition = partition_values(spec, window)
        query = queries.rows(window.start, window.end)
        try:
            self.store.check_format(spec.name, spec.format)
            previous = self.store.read_manifest(spec.name, partition, format=spec.format)
            kept = None if allow_fewer_rows else self._kept_rows(spec, partition, previous, query)
            planner = self._planner(queries)
            chunks = planner.plan(window.start, window.end)
            planned_rows = sum(chunk.expected_rows for chunk in chunks)
            # Checked before any row is fetched, and again before the commit.
            _refuse_fewer_rows(kept, planned_rows)
            progress = _Progress()
            with self.store.writer(
                spec.name,
                partition,
                spec.arrow_schema,
                format=spec.format,
                sort_by=spec.time_column,
            ) as writer:
                self.log.info(
                    "export %r %s: %d rows planned in %d chunks",
                    spec.name,
                    window,
                    planned_rows,
                    len(chunks),
                )
                for number, chunk in enumerate(chunks, start=1):
                    self._fetch(queries, planner, chunk, writer, progress)
                    # Progress for long partitions, where the UI has no progress bar.
                    if number % PROGRESS_EVERY == 0:
                        self.log.info(
                            "export %r %s: %d of %d chunks, %d rows",
                            spec.name,
                            window,
                            number,
                            len(chunks),
                            progress.rows,
                        )
                _refuse_fewer_rows(kept, progress.rows)
                after = self.client.stats.snapshot()
                committed = writer.commit(
                    {
                        "export": spec.name,
                        "table": spec.table,
                        "cursor": spec.time_column,
                        "window": {"start": iso_utc(window.start), "end": iso_utc(window.end)},
                        "partition": dict(partition),
                        "rows": progress.rows,
                        "planned_rows": planned_rows,
                        "requests": after["requests"] - before["requests"],
                        "schema_fingerprint": schema_fingerprint(spec.arrow_schema),
                        "definition": definition_fingerprint(spec),
                        "run_id": run_id,
                        "query": query,
                        "written_at": iso_utc(datetime.now(UTC)),
                    }
                )
        except FewerRowsError as exc:
            raise ExportError(spec.name, window, str(exc)) from None
        except QueryFailedError as exc:
            raise ExportError(spec.name, window, _with_filter_hint(spec, exc)) from exc
        except (LogfireQueryError, StorageError, SchemaMismatchError, OSError) as exc:
            raise ExportError(spec.name, window, str(exc)) from exc
        return PartitionResult(
            export=spec.name,
            window=window,
            uri=committed.uri,
            rows=committed.rows,
            files=committed.files,
            planned_rows=planned_rows,
            chunks=progress.chunks,
            splits=progress.splits,
            requests=after["requests"] - before["requests"],
            retries=after["retries"] - before["retries"],
            throttled=after["throttled"] - before["throttled"],
            duration_s=round(time.monotonic() - started, 3),
            previous_rows=None if previous is None else int(previous["rows"]),
        )

    def _kept_rows(
        self,
        spec: ExportSpec,
        partition: PartitionValues,
        previous: dict[str, Any] | None,
        query: str,
    ) -> KeptRows | None:
        """The rows the guard protects: none if the export changed since they were written."""
        if previous is not None:
            if not same_export(previous, spec, query):
                return None
            return KeptRows(int(previous["rows"]), f"from run {previous.get('run_id')}")
        # No commit record (one past the Delta history read, or files a killed commit left):
        # count what is there, and assume the same export wrote it.
        rows = self.store.current_rows(spec.name, partition, format=spec.format)
        return None if rows is None else KeptRows(rows, "counted in its files, no commit record")

    def plan(self, spec: ExportSpec, window: TimeWindow) -> list[Chunk]:
        """The chunks an export of `window` would fetch, without fetching or writing."""
        try:
            return self._planner(ExportQueries(spec)).plan(window.start, window.end)
        except LogfireQueryError as exc:
            raise ExportError(spec.name, window, str(exc)) from exc

    def server_count(self, spec: ExportSpec, window: TimeWindow) -> int:
        """The server's `count(*)` for the window, with the export's filter."""
        try:
            table = self._query(
                spec,
                ExportQueries(spec).count(window.start, window.end),
                window.start,
                window.end,
                limit=1,
            )
        except LogfireQueryError as exc:
            raise ExportError(spec.name, window, f"counting rows failed: {exc}") from exc
        return int(table.column("rows")[0].as_py())

    def _query(
        self,
        spec: ExportSpec,
        sql: str,
        start: datetime,
        end: datetime,
        limit: int | None = None,
    ) -> pa.Table:
        """Run SQL about cursor window `[start, end)` with the matching pruning hints."""
        hint_start, hint_end = spec.hint_window(start, end)
        return self.client.query_arrow(
            sql, min_timestamp=hint_start, max_timestamp=hint_end, limit=limit or self.limit
        )

    # -- planning --------------------------------------------------------------------------

    def _planner(self, queries: ExportQueries) -> ChunkPlanner:
        return ChunkPlanner(
            lambda start, end, width: self._count_buckets(queries, start, end, width),
            limit=self.limit,
        )

    def _count_buckets(
        self, queries: ExportQueries, start: datetime, end: datetime, width_us: int | None
    ) -> list[tuple[datetime, int]]:
        sql = (
            queries.timestamp_counts(start, end)
            if width_us is None
            else queries.histogram(start, end, width_us)
        )
        table = self._query(queries.spec, sql, start, end)
        buckets = pc.cast(table.column("bucket"), pa.timestamp("us", tz="UTC")).to_pylist()
        counts = table.column("rows").to_pylist()
        return list(zip(buckets, counts, strict=True))

    # -- fetching --------------------------------------------------------------------------

    def _fetch(
        self,
        queries: ExportQueries,
        planner: ChunkPlanner,
        chunk: Chunk,
        writer: PartitionWriter,
        progress: _Progress,
    ) -> None:
        progress.chunks += 1
        if chunk.tie or chunk.end - chunk.start <= MICROSECOND:
            self._fetch_tie(queries, chunk.start, writer, progress)
            return
        try:
            table = self._query(
                queries.spec, queries.rows(chunk.start, chunk.end), chunk.start, chunk.end
            )
        except ServerError as exc:
            if exc.status_code not in TIMEOUT_STATUSES or chunk.end - chunk.start < MIN_SPLIT:
                raise
            # The server keeps timing out on this chunk even after retries: ask for less.
            self.log.warning(
                "chunk [%s, %s) timed out (%s); splitting it in two",
                iso_utc(chunk.start),
                iso_utc(chunk.end),
                exc.status_code,
            )
            progress.splits += 1
            middle = chunk.start + (chunk.end - chunk.start) // 2
            for part in (Chunk(chunk.start, middle, 0), Chunk(middle, chunk.end, 0)):
                self._fetch(queries, planner, part, writer, progress)
            return
        _check_inside(queries.spec, table, chunk.start, chunk.end)
        if table.num_rows < self.limit:
            self.log.debug(
                "chunk [%s, %s): %d rows", iso_utc(chunk.start), iso_utc(chunk.end), table.num_rows
            )
            writer.write(table)
            progress.rows += table.num_rows
            return
        # A full answer may be truncated (rows arrived since planning): never trust it.
        progress.splits += 1
        self.log.info(
            "chunk [%s, %s) came back with %d rows (the limit); splitting it",
            iso_utc(chunk.start),
            iso_utc(chunk.end),
            table.num_rows,
        )
        parts = planner.plan(chunk.start, chunk.end)
        if len(parts) == 1 and not parts[0].tie:
            # The counts disagree with the answer; halve the chunk so that it still shrinks.
            middle = chunk.start + (chunk.end - chunk.start) // 2
            parts = [Chunk(chunk.start, middle, 0), Chunk(middle, chunk.end, 0)]
        for part in parts:
            self._fetch(queries, planner, part, writer, progress)

    def _fetch_tie(
        self,
        queries: ExportQueries,
        moment: datetime,
        writer: PartitionWriter,
        progress: _Progress,
    ) -> None:
        """Page through the rows sharing one timestamp, by keyset on the tiebreak columns."""
        key_columns = [f"{KEY_ALIAS_PREFIX}{i}" for i in range(len(queries.tiebreak_keys))]
        after: tuple[str, ...] | None = None
        while True:
            table = self._query(
                queries.spec, queries.tie_page(moment, after), moment, moment + MICROSECOND
            )
            if table.num_rows < self.limit:
                writer.write(table.drop_columns(key_columns))
                progress.rows += table.num_rows
                return
            # The page is full, so its last key group may continue on the next page: keep
            # only the groups before it and resume right after them.
            keys = list(zip(*(table.column(c).to_pylist() for c in key_columns), strict=True))
            cut = len(keys) - 1
            while cut > 0 and keys[cut - 1] == keys[-1]:
                cut -= 1
            if cut == 0:
                raise ExportError(
                    queries.spec.name,
                    TimeWindow(moment, moment + MICROSECOND),
                    f"{self.limit} or more rows share the timestamp {iso_utc(moment)} and the "
                    f"key {keys[-1]}; they cannot be paged apart",
                )
            writer.write(table.slice(0, cut).drop_columns(key_columns))
            progress.rows += cut
            after = keys[cut - 1]


def _with_filter_hint(spec: ExportSpec, error: QueryFailedError) -> str:
    """The server's message, pointing at the export's own SQL when it has some."""
    if spec.where is None:
        return str(error)
    return f"{error} (the export adds `where: {spec.where}` to every query; check it first)"


def _check_inside(spec: ExportSpec, table: pa.Table, start: datetime, end: datetime) -> None:
    """Refuse an answer with rows outside `[start, end)`: they belong to other partitions.

    The SQL's own predicates make this impossible unless something rewrote them (a filter
    that escaped its parentheses, a server bug); writing such rows would duplicate them.
    """
    if spec.time_column not in table.column_names or table.num_rows == 0:
        return  # the export does not keep its cursor column: nothing to check against
    bounds = pc.min_max(table.column(spec.time_column)).as_py()
    low, high = bounds["min"], bounds["max"]
    if (low is not None and low < start) or (high is not None and high >= end):
        raise ExportError(
            spec.name,
            TimeWindow(start, end),
            f"the server returned rows outside the window ({low} to {high}); check the "
            "export's `where` filter",
        )
