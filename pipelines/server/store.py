"""In-memory telemetry tables queried with Apache DataFusion, optionally persisted as Parquet.

The store keeps the Arrow batches it was given, per table. Each query builds a fresh
DataFusion session in which the stored batches are a zero-copy memory table and the names a
client may use (`records`, `records_all`, `metrics`) are views over them that apply what the
real API applies before the user's SQL runs: the `min_timestamp` / `max_timestamp` window,
the deployment environment filter, the ingestion clock and, for `records`, the pending-span
filter. DataFusion inlines the views, so a query only reads the columns it names.
"""

import logging
import os
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from datafusion import SessionConfig, SessionContext

from pipelines.schemas import TableDefinition, table_definition

logger = logging.getLogger(__name__)

# The stored tables. `records` rows include pending spans; the `records` view hides them.
STORED_TABLES = ("records", "metrics")

# Memory tables are split into this many partitions so DataFusion scans them in parallel.
_PARTITIONS = 4

# Past this many stored batches a table is merged into batches of `_COMPACT_ROWS` rows.
_MAX_BATCHES = 256
_COMPACT_ROWS = 128 * 1024

# The raw tables get names no client would pick, so the views are what SQL normally sees.
_RAW_PREFIX = "__store_"


class QueryFailed(Exception):
    """The SQL could not be planned or executed; `message` is DataFusion's own explanation."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class SchemaMismatch(ValueError):
    """Rows handed to `TelemetryStore.append` do not fit the table's schema."""


@dataclass(frozen=True)
class QueryScope:
    """What the API applies around a query: the time window and environment filter."""

    min_timestamp: datetime | None = None
    max_timestamp: datetime | None = None
    # `""` selects rows without an environment, as on the real API.
    deployment_environments: Sequence[str] | None = None
    timezone: str | None = None


def utc_now() -> datetime:
    return datetime.now(UTC)


class TelemetryStore:
    """Thread-safe `records` and `metrics` tables with Logfire's query semantics."""

    def __init__(
        self, data_dir: Path | None = None, clock: Callable[[], datetime] | None = None
    ) -> None:
        self.data_dir = data_dir
        self.clock = clock or utc_now
        self._lock = threading.Lock()
        self._batches: dict[str, list[pa.RecordBatch]] = {name: [] for name in STORED_TABLES}
        if data_dir is not None:
            self._load_segments(data_dir)

    def append(self, table: str, rows: pa.Table) -> int:
        """Store rows (cast to the table's schema) and return how many were added."""
        definition = _stored_definition(table)
        conformed = conform(rows, definition)
        if conformed.num_rows == 0:
            return 0
        with self._lock:
            if self.data_dir is not None:
                self._write_segment(self.data_dir, table, conformed)
            self._batches[table].extend(conformed.to_batches())
            self._compact(table)
        added: int = conformed.num_rows
        return added

    def row_count(self, table: str) -> int:
        """Every stored row of a table, pending spans and future rows included."""
        with self._lock:
            return sum(batch.num_rows for batch in self._batches[_stored_definition(table).name])

    def query(
        self,
        sql: str,
        *,
        min_timestamp: datetime | None = None,
        max_timestamp: datetime | None = None,
        limit: int,
        scope: QueryScope | None = None,
    ) -> pa.Table:
        """Run SQL over the visible rows; at most `limit` rows come back, silently."""
        scope = _merge_scope(scope, min_timestamp, max_timestamp)
        try:
            # The API's limit wins over a larger SQL LIMIT, and a smaller one still applies.
            result = self._session(scope).sql(sql).limit(limit).to_arrow_table()
        except Exception as exc:  # DataFusion raises plain Exception / ValueError subclasses.
            raise QueryFailed(str(exc)) from exc
        return _plain_strings(result)

    def explain(self, sql: str, *, scope: QueryScope, limit: int) -> dict[str, str]:
        """DataFusion's plans for a query, in the keys the real API uses."""
        try:
            frame = self._session(scope).sql(sql).limit(limit)
            logical = frame.logical_plan().display_indent()
            physical = frame.execution_plan().display_indent()
        except Exception as exc:
            raise QueryFailed(str(exc)) from exc
        # Metrics need an executed plan; the local server does not collect them.
        return {
            "logical_plan": logical,
            "physical_plan": physical,
            "physical_plan_with_metrics": physical,
        }

    def count(self, table: str, start: datetime, end: datetime) -> int:
        """Visible rows of `table` (`records`, `records_all`, `metrics`) in `[start, end)`."""
        time_column = "recorded_timestamp" if table == "metrics" else "start_timestamp"
        sql = (
            f"SELECT count(*) AS n FROM {table} WHERE {time_column} >= {_timestamp_sql(start)}"
            f" AND {time_column} < {_timestamp_sql(end)}"
        )
        result = self.query(sql, min_timestamp=start, max_timestamp=end, limit=1)
        count: int = result.column("n")[0].as_py()
        return count

    def _session(self, scope: QueryScope) -> SessionContext:
        config = SessionConfig().with_target_partitions(_PARTITIONS)
        if scope.timezone is not None:
            config = config.set("datafusion.execution.time_zone", scope.timezone)
        ctx = SessionContext(config)
        with self._lock:
            snapshot = {name: list(batches) for name, batches in self._batches.items()}
        now = self.clock()
        for name, batches in snapshot.items():
            definition = table_definition(name)
            raw_name = _RAW_PREFIX + name
            ctx.register_record_batches(raw_name, _partitions(batches, definition.schema))
            where = _visibility_predicates(definition, scope, now)
            view_sql = f"SELECT * FROM {raw_name} WHERE {' AND '.join(where)}"
            if name == "records":
                ctx.register_view("records_all", ctx.sql(view_sql))
                hidden = "SELECT * FROM records_all WHERE kind <> 'pending_span'"
                ctx.register_view("records", ctx.sql(hidden))
            else:
                ctx.register_view(name, ctx.sql(view_sql))
        return ctx

    def _compact(self, table: str) -> None:
        # OTLP arrives in many small requests; thousands of tiny batches would make every
        # query pay per-batch overhead, so they are merged once they pile up.
        batches = self._batches[table]
        if len(batches) > _MAX_BATCHES:
            merged = pa.Table.from_batches(batches).combine_chunks()
            self._batches[table] = merged.to_batches(max_chunksize=_COMPACT_ROWS)

    def _write_segment(self, data_dir: Path, table: str, rows: pa.Table) -> None:
        folder = data_dir / table
        folder.mkdir(parents=True, exist_ok=True)
        # Names sort in append order, so a reload keeps the original order of the rows.
        name = f"{datetime.now(UTC):%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:8]}.parquet"
        temporary = folder / f".{name}.tmp"
        pq.write_table(rows, temporary)
        os.replace(temporary, folder / name)

    def _load_segments(self, data_dir: Path) -> None:
        for table in STORED_TABLES:
            definition = table_definition(table)
            segments = sorted((data_dir / table).glob("*.parquet"))
            for segment in segments:
                try:
                    rows = pq.read_table(segment, schema=definition.schema)
                except (OSError, pa.ArrowInvalid) as exc:
                    raise SchemaMismatch(f"cannot load stored segment {segment}: {exc}") from exc
                self._batches[table].extend(rows.to_batches())
            self._compact(table)
            if segments:
                logger.info("loaded %s %s segments from %s", len(segments), table, data_dir)


def conform(rows: pa.Table, definition: TableDefinition) -> pa.Table:
    """Rows with exactly the table's columns, order and types; absent nullable columns are null."""
    schema = definition.schema
    unknown = sorted(set(rows.column_names) - set(schema.names))
    if unknown:
        raise SchemaMismatch(f"{definition.name} has no columns {unknown}")
    columns = []
    for field in schema:
        if field.name in rows.column_names:
            column = rows.column(field.name)
        elif field.nullable:
            column = pa.nulls(rows.num_rows, field.type)
        else:
            raise SchemaMismatch(f"{definition.name} rows lack required column {field.name!r}")
        if not field.nullable and column.null_count:
            raise SchemaMismatch(
                f"{definition.name}.{field.name} is NOT NULL but {column.null_count} rows are null"
            )
        try:
            columns.append(column.cast(field.type))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise SchemaMismatch(
                f"{definition.name}.{field.name}: cannot cast {column.type} to {field.type}: {exc}"
            ) from exc
    return pa.Table.from_arrays(columns, schema=schema)


def _stored_definition(table: str) -> TableDefinition:
    if table not in STORED_TABLES:
        raise KeyError(f"the store keeps {STORED_TABLES}, not {table!r}")
    return table_definition(table)


def _merge_scope(
    scope: QueryScope | None, min_timestamp: datetime | None, max_timestamp: datetime | None
) -> QueryScope:
    scope = scope or QueryScope()
    return QueryScope(
        min_timestamp=min_timestamp if min_timestamp is not None else scope.min_timestamp,
        max_timestamp=max_timestamp if max_timestamp is not None else scope.max_timestamp,
        deployment_environments=scope.deployment_environments,
        timezone=scope.timezone,
    )


def _visibility_predicates(
    definition: TableDefinition, scope: QueryScope, now: datetime
) -> list[str]:
    # Both bounds are inclusive. The real API does not say which it uses; an exporter that
    # repeats its half-open window in the SQL is right under either, and inclusive bounds are
    # the case that catches one that trusts the parameters (rows on a boundary would appear
    # in two adjacent windows).
    column = definition.time_column
    predicates = [f"created_at <= {_timestamp_sql(now)}"]
    if scope.min_timestamp is not None:
        predicates.append(f"{column} >= {_timestamp_sql(scope.min_timestamp)}")
    if scope.max_timestamp is not None:
        predicates.append(f"{column} <= {_timestamp_sql(scope.max_timestamp)}")
    if scope.deployment_environments is not None:
        predicates.append(_environment_predicate(scope.deployment_environments))
    return predicates


def _environment_predicate(environments: Sequence[str]) -> str:
    named = [env for env in environments if env != ""]
    options = []
    if named:
        quoted = ", ".join("'" + env.replace("'", "''") + "'" for env in named)
        options.append(f"deployment_environment IN ({quoted})")
    if "" in environments:
        options.append("deployment_environment IS NULL")
    return "(" + (" OR ".join(options) or "FALSE") + ")"


def _timestamp_sql(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError(f"timestamps must be timezone-aware, got {moment!r}")
    text = moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return f"arrow_cast('{text}', 'Timestamp(µs, \"UTC\")')"


def _partitions(batches: list[pa.RecordBatch], schema: pa.Schema) -> list[list[pa.RecordBatch]]:
    if not batches:
        # DataFusion takes the schema from the batches, so an empty table needs one empty batch.
        return [[pa.RecordBatch.from_pylist([], schema=schema)]]
    count = min(_PARTITIONS, len(batches))
    return [batches[index::count] for index in range(count)]


def _plain_strings(table: pa.Table) -> pa.Table:
    # Some DataFusion functions answer with Utf8View; clients expect plain Utf8 as Logfire sends.
    fields = [
        field.with_type(pa.string()) if pa.types.is_string_view(field.type) else field
        for field in table.schema
    ]
    target = pa.schema(fields, metadata=table.schema.metadata)
    return table if target.equals(table.schema) else table.cast(target)
