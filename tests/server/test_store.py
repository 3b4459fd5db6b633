from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from pipelines.schemas import table_definition
from pipelines.server.store import QueryFailed, SchemaMismatch, TelemetryStore
from pipelines.server.synthetic import generate_metrics, generate_records, records_at

T0 = datetime(2024, 5, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)


def kinds(store: TelemetryStore, table: str) -> list[str]:
    result = store.query(f"SELECT kind FROM {table} ORDER BY kind", limit=10_000)
    return list(result.column("kind").to_pylist())


def with_kind(rows: pa.Table, kinds: list[str]) -> pa.Table:
    index = rows.schema.get_field_index("kind")
    return rows.set_column(index, rows.schema.field("kind"), pa.array(kinds))


def test_records_hides_pending_spans_and_records_all_has_them() -> None:
    store = TelemetryStore()
    store.append("records", with_kind(records_at([T0] * 3), ["span", "pending_span", "log"]))
    assert kinds(store, "records") == ["log", "span"]
    assert kinds(store, "records_all") == ["log", "pending_span", "span"]


def test_results_keep_the_schema_types_and_nullability() -> None:
    store = TelemetryStore()
    store.append("records", records_at([T0]))
    columns = ", ".join(table_definition("records").columns)
    result = store.query(f"SELECT {columns} FROM records", limit=10)
    assert result.schema.equals(table_definition("records").schema)
    store.append("metrics", generate_metrics(10, T0, T0 + HOUR))
    columns = ", ".join(table_definition("metrics").columns)
    result = store.query(f"SELECT {columns} FROM metrics", limit=10)
    assert result.schema.equals(table_definition("metrics").schema)


def test_both_time_bounds_are_inclusive() -> None:
    store = TelemetryStore()
    moments = [T0 - timedelta(microseconds=1), T0, T0 + HOUR, T0 + HOUR + timedelta(microseconds=1)]
    store.append("records", records_at(moments))
    result = store.query(
        "SELECT start_timestamp FROM records ORDER BY start_timestamp",
        min_timestamp=T0,
        max_timestamp=T0 + HOUR,
        limit=100,
    )
    assert result.column("start_timestamp").to_pylist() == [T0, T0 + HOUR]


def test_metrics_are_bounded_on_recorded_timestamp() -> None:
    store = TelemetryStore()
    store.append("metrics", generate_metrics(1_000, T0, T0 + 2 * HOUR, seed=3))
    inside = store.count("metrics", T0, T0 + HOUR)
    assert 0 < inside < 1_000
    result = store.query(
        "SELECT count(*) AS n FROM metrics",
        min_timestamp=T0,
        max_timestamp=T0 + HOUR - timedelta(microseconds=1),
        limit=1,
    )
    assert result.column("n").to_pylist() == [inside]


def test_rows_created_after_the_clock_are_invisible() -> None:
    now = T0 + HOUR
    store = TelemetryStore(clock=lambda: now)
    rows = records_at([T0, T0], seed=1)
    created = pa.array([now, now + timedelta(microseconds=1)], pa.timestamp("us", tz="UTC"))
    store.append(
        "records",
        rows.set_column(
            rows.schema.get_field_index("created_at"), rows.schema.field("created_at"), created
        ),
    )
    assert store.count("records", T0, T0 + HOUR) == 1
    now += timedelta(seconds=1)
    assert store.count("records", T0, T0 + HOUR) == 2


def test_limit_truncates_and_caps_a_larger_sql_limit() -> None:
    store = TelemetryStore()
    store.append("records", records_at([T0] * 50))
    assert store.query("SELECT span_id FROM records", limit=20).num_rows == 20
    assert store.query("SELECT span_id FROM records LIMIT 40", limit=20).num_rows == 20
    assert store.query("SELECT span_id FROM records LIMIT 5", limit=20).num_rows == 5


def test_sql_errors_carry_datafusion_message() -> None:
    store = TelemetryStore()
    with pytest.raises(QueryFailed, match="no_such_table"):
        store.query("SELECT x FROM no_such_table", limit=1)
    with pytest.raises(QueryFailed, match="no_such_column"):
        store.query("SELECT no_such_column FROM records", limit=1)


def test_timezone_scope_changes_the_session_time_zone() -> None:
    from pipelines.server.store import QueryScope

    store = TelemetryStore()
    scope = QueryScope(timezone="Europe/Paris")
    result = store.query("SELECT arrow_typeof(now()) AS t", limit=1, scope=scope)
    assert "Europe/Paris" in result.column("t")[0].as_py()


def test_deployment_environment_filter_and_empty_string_for_none() -> None:
    from pipelines.server.store import QueryScope

    store = TelemetryStore()
    rows = records_at([T0] * 3)
    envs = pa.array(["prod", "staging", None], pa.string())
    rows = rows.set_column(
        rows.schema.get_field_index("deployment_environment"),
        rows.schema.field("deployment_environment"),
        envs,
    )
    store.append("records", rows)

    def environments(selected: list[str]) -> list[str | None]:
        scope = QueryScope(deployment_environments=selected)
        sql = "SELECT deployment_environment AS e FROM records ORDER BY e NULLS LAST"
        return list(store.query(sql, limit=10, scope=scope).column("e").to_pylist())

    assert environments(["prod"]) == ["prod"]
    assert environments(["staging", ""]) == ["staging", None]
    assert environments([]) == []


def test_append_rejects_rows_that_do_not_fit() -> None:
    store = TelemetryStore()
    with pytest.raises(SchemaMismatch, match="no columns"):
        store.append("records", pa.table({"bogus": [1]}))
    with pytest.raises(SchemaMismatch, match="required column 'trace_id'"):
        store.append("records", records_at([T0]).drop_columns(["trace_id"]))
    with pytest.raises(KeyError, match="not 'spans'"):
        store.append("spans", records_at([T0]))


def test_append_casts_compatible_types_and_fills_absent_nullable_columns() -> None:
    store = TelemetryStore()
    rows = records_at([T0]).drop_columns(["url_query", "tags"])
    rows = rows.set_column(rows.schema.get_field_index("level"), "level", pa.array([9], pa.int64()))
    assert store.append("records", rows) == 1
    result = store.query("SELECT level, tags FROM records", limit=1)
    assert result.to_pylist() == [{"level": 9, "tags": None}]


def test_data_survives_a_restart_with_a_data_dir(tmp_path: Path) -> None:
    first = TelemetryStore(tmp_path)
    first.append("records", generate_records(500, T0, T0 + HOUR, seed=1))
    first.append("records", records_at([T0], seed=2))
    first.append("metrics", generate_metrics(50, T0, T0 + HOUR, seed=1))
    assert not list(tmp_path.rglob("*.tmp"))
    second = TelemetryStore(tmp_path)
    assert second.row_count("records") == 501
    assert second.row_count("metrics") == 50
    sql = "SELECT trace_id, span_id FROM records_all ORDER BY trace_id, span_id"
    assert second.query(sql, limit=1_000).equals(first.query(sql, limit=1_000))


def test_histogram_over_many_rows_counts_every_visible_row() -> None:
    store = TelemetryStore()
    store.append("records", generate_records(100_000, T0, T0 + HOUR, seed=11))
    sql = (
        "SELECT date_bin(INTERVAL '5 minutes', start_timestamp) AS bucket, count(*) AS n "
        "FROM records GROUP BY bucket ORDER BY bucket"
    )
    result = store.query(sql, min_timestamp=T0, max_timestamp=T0 + HOUR, limit=10_000)
    assert result.num_rows == 12
    assert sum(result.column("n").to_pylist()) == store.count("records", T0, T0 + HOUR)


def test_many_small_appends_are_all_visible() -> None:
    store = TelemetryStore()
    for seed in range(300):
        store.append("records", records_at([T0, T0 + HOUR], seed=seed))
    assert store.count("records", T0, T0 + HOUR) == 300
    assert store.row_count("records") == 600
