"""Validation of the exports configuration."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pipelines.export.spec import ExportConfigError, load_exports, parse_exports

PROJECT_CONFIG = Path(__file__).parents[2] / "config" / "exports.yaml"


def export(**fields: object) -> dict[str, object]:
    return {"exports": {"errors": {"table": "records", "start": "2026-11-01", **fields}}}


def test_the_shipped_config_declares_hourly_records_and_metrics() -> None:
    config = load_exports(PROJECT_CONFIG)
    assert {name: spec.table for name, spec in config.exports.items()} == {
        "records": "records",
        "metrics": "metrics",
    }
    assert all(spec.partitions == "hourly" for spec in config.exports.values())
    assert config.schedule.cron == "30 0 * * *"


def test_columns_narrow_the_schema_in_table_order() -> None:
    spec = parse_exports(export(columns=["message", "start_timestamp"])).exports["errors"]
    assert spec.arrow_schema.names == ["message", "start_timestamp"]
    assert spec.time_column == "start_timestamp"


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        pytest.param(
            export(colums=["message"]),
            "unknown key 'exports.errors.colums' (did you mean 'columns'?)",
            id="key",
        ),
        pytest.param(
            export(columns=["message", "nope"]),
            "unknown columns for table 'records': nope",
            id="column",
        ),
        pytest.param(export(table="spans"), "unknown table 'spans'", id="table"),
        pytest.param(export(partitions="weekly"), "exports.errors.partitions", id="partitions"),
        pytest.param(export(where="  "), "`where` is empty", id="blank-filter"),
        pytest.param({"exports": {}}, "at least one export", id="no-exports"),
        pytest.param(
            {"exports": {"Bad-Name": {"table": "records", "start": "2026-11-01"}}},
            "exports.Bad-Name.name",
            id="name",
        ),
        pytest.param(
            {"exports": {}, "schedul": {}},
            "unknown key 'schedul' (did you mean 'schedule'?)",
            id="top-key",
        ),
        pytest.param(
            export(columns=["exeption_type"]),
            "exeption_type (did you mean 'exception_type'?)",
            id="column-typo",
        ),
        pytest.param(
            export(cursor="end_timestamp"),
            "cursor must be 'start_timestamp' or 'created_at'",
            id="cursor",
        ),
        pytest.param(export(settle_delay=-5), "settle_delay cannot be negative", id="settle"),
        pytest.param(
            {"exports": {}, "schedule": {"cron": "30 0 * *"}},
            "schedule.cron: '30 0 * *' is not a cron schedule: it needs five fields",
            id="cron",
        ),
        pytest.param(
            {"exports": {}, "delta_vacuum": {"retention_hours": 0}},
            "delta_vacuum.retention_hours: Input should be greater than or equal to 1",
            id="vacuum-retention",
        ),
    ],
)
def test_invalid_configs_name_what_is_wrong(document: object, expected: str) -> None:
    with pytest.raises(ExportConfigError, match="exports configuration is invalid") as info:
        parse_exports(document)
    assert expected in str(info.value)


def test_a_missing_file_says_where_it_looked(tmp_path: Path) -> None:
    with pytest.raises(ExportConfigError, match="does not exist"):
        load_exports(tmp_path / "exports.yaml")


def test_bad_yaml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "exports.yaml"
    path.write_text("exports: [unclosed")
    with pytest.raises(ExportConfigError, match=str(path)):
        load_exports(path)


def test_ingest_time_cursor_widens_the_pruning_hints() -> None:
    spec = parse_exports(export(cursor="created_at")).exports["errors"]
    start = datetime(2026, 12, 1, 13, tzinfo=UTC)
    end = start + timedelta(hours=1)
    assert spec.ingest_time and spec.time_column == "created_at"
    assert spec.effective_settle_delay == timedelta(minutes=5)
    assert spec.hint_window(start, end) == (start - timedelta(hours=24), end + timedelta(hours=1))
    event = parse_exports(export()).exports["errors"]
    assert event.effective_settle_delay == timedelta(hours=1)
    assert event.hint_window(start, end) == (start, end)


@pytest.mark.parametrize(
    ("where", "problem"),
    [
        pytest.param("is_exception) OR (true", "closes a parenthesis", id="breakout"),
        pytest.param("level > 9; DROP TABLE records", "one expression", id="semicolon"),
        pytest.param("level > 9 -- comment", "one expression", id="line-comment"),
        pytest.param("level > 9 /* x */", "one expression", id="block-comment"),
        pytest.param("(level > 9", "parenthesis(es) open", id="unclosed"),
        pytest.param("message = 'oops", "unterminated ' quote", id="quote"),
        pytest.param("E'\\'' <> '') OR (true OR E'\\'' <> ''", "backslashes", id="escape-string"),
        pytest.param("message = $$a) OR (true$$", "$$ quotes", id="dollar-quote"),
    ],
)
def test_a_filter_must_be_one_self_contained_expression(where: str, problem: str) -> None:
    with pytest.raises(ExportConfigError, match=r"exports\.errors\.where") as info:
        parse_exports(export(where=where))
    assert problem in str(info.value)


@pytest.mark.parametrize(
    "where",
    [
        "is_exception",
        "message = 'it''s (not) a ) problem'",
        "attributes->>'route' = '/a;b' AND (level >= 13 OR \"kind\" = 'log')",
    ],
)
def test_valid_filters_pass(where: str) -> None:
    assert parse_exports(export(where=where)).exports["errors"].where == where


def test_an_impossible_date_names_its_key(tmp_path: Path) -> None:
    path = tmp_path / "exports.yaml"
    path.write_text("exports:\n  records: {table: records, start: 2026-13-01}\n")
    with pytest.raises(ExportConfigError, match=r"exports\.records\.start: .*month"):
        load_exports(path)


def test_dates_in_the_file_are_read_as_dates(tmp_path: Path) -> None:
    path = tmp_path / "exports.yaml"
    path.write_text("exports:\n  records: {table: records, start: 2026-11-01}\n")
    assert load_exports(path).exports["records"].start.isoformat() == "2026-11-01"


def test_an_export_declared_twice_is_refused_not_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "exports.yaml"
    path.write_text(
        "exports:\n"
        "  records: {table: records, start: 2026-11-01}\n"
        "  records: {table: metrics, start: 2026-11-01}\n"
    )
    with pytest.raises(ExportConfigError, match=r"duplicate key 'records'[\s\S]*line 3") as info:
        load_exports(path)
    assert f'in "{path}", line 3' in str(info.value)  # the file, not "<unicode string>"


def test_yaml_merge_keys_still_work(tmp_path: Path) -> None:
    path = tmp_path / "exports.yaml"
    path.write_text(
        "exports:\n"
        "  records: &hourly {table: records, start: 2026-11-01}\n"
        "  errors:\n    <<: *hourly\n    where: is_exception\n"
    )
    config = load_exports(path)
    assert config.exports["errors"].table == "records"
    assert config.exports["errors"].where == "is_exception"


def test_a_cron_alias_is_left_to_dagster() -> None:
    document = {"exports": {"r": {"table": "records", "start": "2026-11-01"}}}
    config = parse_exports({**document, "schedule": {"cron": "@daily"}})
    assert config.schedule.cron == "@daily"
