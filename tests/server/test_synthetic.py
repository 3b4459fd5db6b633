from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from pipelines.schemas import table_definition
from pipelines.server.synthetic import generate_metrics, generate_records, records_at

START = datetime(2024, 5, 1, tzinfo=UTC)
END = START + timedelta(hours=1)
NOW = datetime(2024, 5, 2, tzinfo=UTC)


def test_same_seed_same_table_and_other_seed_other_table() -> None:
    first = generate_records(5_000, START, END, seed=7, now=NOW)
    assert first.equals(generate_records(5_000, START, END, seed=7, now=NOW))
    other = generate_records(5_000, START, END, seed=8, now=NOW)
    assert not first.column("span_id").equals(other.column("span_id"))


def test_records_match_the_schema_and_window() -> None:
    table = generate_records(20_000, START, END, seed=1, now=NOW)
    assert table.num_rows == 20_000
    assert table.schema.equals(table_definition("records").schema)
    assert pc.min(table.column("start_timestamp")).as_py() >= START
    assert pc.max(table.column("start_timestamp")).as_py() < END
    assert pc.all(pc.less_equal(table.column("start_timestamp"), table.column("end_timestamp")))
    assert pc.all(pc.less_equal(table.column("created_at"), pa.scalar(NOW)))
    assert pc.all(pc.greater_equal(table.column("created_at"), table.column("end_timestamp")))
    assert set(pc.unique(table.column("kind")).to_pylist()) == {"span", "log", "pending_span"}
    assert set(pc.unique(table.column("level")).to_pylist()) >= {1, 5, 9, 10, 13, 17, 21}
    assert pc.any(table.column("is_exception")).as_py()
    assert pc.count_distinct(table.column("service_name")).as_py() >= 5
    ids = pc.binary_join_element_wise(table.column("trace_id"), table.column("span_id"), "")
    assert pc.count_distinct(ids).as_py() == table.num_rows
    assert set(pc.utf8_length(table.column("trace_id")).to_pylist()) == {32}
    assert set(pc.utf8_length(table.column("span_id")).to_pylist()) == {16}


def test_logs_have_no_duration_and_spans_do() -> None:
    table = generate_records(5_000, START, END, seed=3, now=NOW)
    kinds = table.column("kind").to_pylist()
    durations = table.column("duration").to_pylist()
    assert all((d is None) == (k != "span") for k, d in zip(kinds, durations, strict=True))


def test_parents_are_spans_of_the_same_trace() -> None:
    rows = generate_records(3_000, START, END, seed=2, now=NOW).to_pylist()
    by_id = {(r["trace_id"], r["span_id"]): r for r in rows}
    children = [r for r in rows if r["parent_span_id"] is not None]
    assert children and len(children) < len(rows)
    assert all((r["trace_id"], r["parent_span_id"]) in by_id for r in children)


def test_bursts_put_thousands_of_rows_on_one_timestamp() -> None:
    table = generate_records(50_000, START, END, seed=4, now=NOW, bursts=2, burst_rows=2_500)
    counts = pc.value_counts(table.column("start_timestamp")).field("counts")
    assert sorted(counts.to_pylist())[-2:] == [2_500, 2_500]


def test_created_at_never_passes_now() -> None:
    now = START + timedelta(minutes=30)
    table = generate_records(2_000, START, END, seed=5, now=now)
    assert pc.max(table.column("created_at")).as_py() <= now


def test_records_at_uses_exactly_the_given_timestamps() -> None:
    moment = START + timedelta(microseconds=1)
    table = records_at([moment] * 10_001, seed=9)
    assert table.num_rows == 10_001
    assert pc.unique(table.column("start_timestamp")).to_pylist() == [moment]
    assert pc.count_distinct(table.column("span_id")).as_py() == 10_001
    assert table.schema.equals(table_definition("records").schema)


def test_records_at_rejects_missing_timestamps() -> None:
    with pytest.raises(ValueError, match="nulls"):
        records_at(pa.array([None], pa.timestamp("us", tz="UTC")))


def test_metrics_match_the_schema_and_cover_every_type() -> None:
    table = generate_metrics(5_000, START, END, seed=1, now=NOW)
    assert table.schema.equals(table_definition("metrics").schema)
    assert set(pc.unique(table.column("metric_type")).to_pylist()) == {
        "gauge",
        "sum",
        "histogram",
        "exponential_histogram",
    }
    assert pc.min(table.column("recorded_timestamp")).as_py() >= START
    assert generate_metrics(100, START, END, seed=1, now=NOW).equals(
        generate_metrics(100, START, END, seed=1, now=NOW)
    )
    histograms = table.filter(pc.equal(table.column("metric_type"), "histogram"))
    first = histograms.slice(0, 1).to_pylist()[0]
    assert sum(first["histogram_bucket_counts"]) == first["histogram_count"]
    assert len(first["histogram_bucket_counts"]) == len(first["histogram_explicit_bounds"]) + 1


def test_late_rows_arrive_up_to_a_day_after_they_start() -> None:
    table = generate_records(20_000, START, END, seed=3, now=END, late_fraction=0.1)
    start = table.column("start_timestamp")
    created = table.column("created_at")
    late = pc.greater(created, pa.scalar(END, pa.timestamp("us", tz="UTC")))
    assert 0.05 < pc.mean(late.cast(pa.int8())).as_py() < 0.15
    lateness = pc.subtract(created.cast(pa.int64()), start.cast(pa.int64()))
    assert pc.max(lateness).as_py() <= 24 * 3600 * 1_000_000
    # Late spans are long ones: they end just before they are ingested.
    late_spans = pc.and_(late, pc.equal(table.column("kind"), "span"))
    durations = pc.filter(table.column("duration"), late_spans)
    assert pc.min(durations).as_py() >= 59.0
    assert pc.all(pc.greater_equal(created, table.column("end_timestamp"))).as_py()


def test_late_fraction_is_checked() -> None:
    with pytest.raises(ValueError, match="late_fraction"):
        generate_records(10, START, END, late_fraction=1.5)
