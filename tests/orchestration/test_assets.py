"""The export assets in a real Dagster instance against the real local server."""

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from dagster import DagsterInstance, Definitions, ExecuteInProcessResult, build_schedule_context

from pipelines.export.spec import ExportConfigError, ExportsConfig, parse_exports
from pipelines.orchestration.assets import ROW_COUNT_CHECK
from pipelines.orchestration.build import build_definitions
from pipelines.orchestration.local_runs import materialize_partition
from pipelines.orchestration.resources import LogfireQueryResource, ParquetStorageResource
from pipelines.server.runner import LocalLogfireServer
from pipelines.server.synthetic import generate_records
from tests.orchestration.metadata import int_entry, path_entry, schema_entry, text_entry

HOUR = datetime(2026, 12, 1, 13, tzinfo=UTC)
PARTITION = "2026-12-01-13:00"


def config(**records: object) -> ExportsConfig:
    body = {"table": "records", "start": "2026-11-01", **records}
    return parse_exports({"exports": {"records": body}})


def definitions(server: LocalLogfireServer, root: Path, cfg: ExportsConfig) -> Definitions:
    return build_definitions(
        cfg,
        logfire=LogfireQueryResource(base_url=server.base_url),
        storage=ParquetStorageResource(root=str(root)),
    )


def run_partition(
    defs: Definitions, instance: DagsterInstance, key: str = PARTITION
) -> ExecuteInProcessResult:
    return materialize_partition(defs, "records", key, instance)


@pytest.fixture
def token(server: LocalLogfireServer, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("LOGFIRE_READ_TOKEN", server.read_token)
    return server.read_token


def test_a_partition_materializes_with_metadata_and_a_passing_check(
    server: LocalLogfireServer, token: str, tmp_path: Path, instance: DagsterInstance
) -> None:
    server.store.append(
        "records", generate_records(12_000, HOUR, HOUR + timedelta(hours=1), seed=3)
    )
    expected = server.store.count("records", HOUR, HOUR + timedelta(hours=1))
    result = run_partition(definitions(server, tmp_path, config()), instance)
    assert result.success

    [event] = result.asset_materializations_for_node("records")
    metadata = event.metadata
    assert event.partition == PARTITION
    assert int_entry(metadata, "dagster/row_count") == expected
    assert int_entry(metadata, "server_count") == expected
    assert int_entry(metadata, "files") == 1 and int_entry(metadata, "bytes") > 0
    # A histogram and at least two chunks for 12,000 rows.
    assert int_entry(metadata, "requests") >= 3
    assert text_entry(metadata, "window_start") == "2026-12-01T13:00:00.000000Z"
    assert path_entry(metadata, "dagster/uri").endswith("records/date=2026-12-01/hour=13")
    assert len(schema_entry(metadata, "dagster/column_schema").columns) == 44

    [check] = result.get_asset_check_evaluations()
    assert check.check_name == ROW_COUNT_CHECK and check.passed

    # The token is in no event: not in metadata, logs or the resource's config.
    logs = instance.all_logs(result.run_id)
    assert logs and all(token not in str(entry) for entry in logs)


def test_invalid_filter_fails_the_run_naming_the_export_and_leaves_no_files(
    server: LocalLogfireServer, token: str, tmp_path: Path, instance: DagsterInstance
) -> None:
    result = run_partition(definitions(server, tmp_path, config(where="bogus_col > 1")), instance)
    assert not result.success
    failure = "\n".join(
        str(event.event_specific_data) for event in result.all_events if event.is_failure
    )
    assert "export 'records'" in failure and "bogus_col" in failure
    assert list(tmp_path.rglob("*.parquet")) == []


def test_a_missing_token_fails_before_any_query(
    server: LocalLogfireServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    instance: DagsterInstance,
) -> None:
    monkeypatch.delenv("LOGFIRE_READ_TOKEN", raising=False)
    monkeypatch.chdir(tmp_path)  # no .env here either
    result = run_partition(definitions(server, tmp_path, config()), instance)
    assert not result.success
    failure = "\n".join(str(e.event_specific_data) for e in result.all_events if e.is_failure)
    assert "LOGFIRE_READ_TOKEN" in failure


@pytest.mark.parametrize(
    ("tick", "first", "last"),
    [
        # At the default 00:30, 23:00-24:00 has not settled (1 h delay): it is asked for at
        # the next night's tick, so every hour is requested once, 24 a night.
        pytest.param(
            datetime(2026, 12, 2, 0, 30, tzinfo=UTC),
            "2026-11-30-23:00",
            "2026-12-01-22:00",
            id="00:30",
        ),
        pytest.param(
            datetime(2026, 12, 2, 1, 30, tzinfo=UTC),
            "2026-12-01-00:00",
            "2026-12-01-23:00",
            id="01:30",
        ),
    ],
)
def test_the_nightly_schedule_asks_for_each_hour_once_it_has_settled(
    tick: datetime, first: str, last: str
) -> None:
    defs = build_definitions(config())
    schedule = defs.resolve_schedule_def("records_nightly")
    assert schedule.cron_schedule == "30 0 * * *"
    assert schedule.execution_timezone == "UTC"
    context = build_schedule_context(
        scheduled_execution_time=tick, repository_def=defs.get_repository_def()
    )
    requests = schedule.evaluate_tick(context).run_requests or []
    keys = [r.partition_key for r in requests]
    assert (len(keys), keys[0], keys[-1]) == (24, first, last)
    assert len({r.run_key for r in requests}) == 24


def test_a_daily_export_is_asked_for_once_settled() -> None:
    defs = build_definitions(config(partitions="daily"))
    schedule = defs.resolve_schedule_def("records_nightly")
    keys = [
        [
            r.partition_key
            for r in schedule.evaluate_tick(
                build_schedule_context(
                    scheduled_execution_time=datetime(2026, 12, day, 0, 30, tzinfo=UTC),
                    repository_def=defs.get_repository_def(),
                )
            ).run_requests
            or []
        ]
        for day in (2, 3)
    ]
    assert keys == [["2026-11-30"], ["2026-12-01"]]


def test_an_ingest_time_export_settles_in_five_minutes() -> None:
    defs = build_definitions(config(cursor="created_at"))
    context = build_schedule_context(
        scheduled_execution_time=datetime(2026, 12, 2, 0, 30, tzinfo=UTC),
        repository_def=defs.get_repository_def(),
    )
    requests = defs.resolve_schedule_def("records_nightly").evaluate_tick(context).run_requests
    assert len(requests or []) == 24


def test_the_project_definitions_load() -> None:
    from pipelines.definitions import defs

    Definitions.validate_loadable(defs)
    assert {key.to_user_string() for key in defs.resolve_all_asset_keys()} == {
        "records",
        "metrics",
    }


def test_without_a_settle_delay_the_0030_tick_exports_exactly_yesterday() -> None:
    defs = build_definitions(config(settle_delay=0))
    context = build_schedule_context(
        scheduled_execution_time=datetime(2026, 12, 2, 0, 30, tzinfo=UTC),
        repository_def=defs.get_repository_def(),
    )
    requests = defs.resolve_schedule_def("records_nightly").evaluate_tick(context).run_requests
    assert [r.partition_key for r in requests or []] == [
        f"2026-12-01-{hour:02d}:00" for hour in range(24)
    ]


@pytest.mark.parametrize("cron", ["61 0 * * *", "0 0 30 2 *"])
def test_a_cron_dagster_refuses_is_a_config_error_naming_the_key(cron: str) -> None:
    config = parse_exports(
        {
            "exports": {"records": {"table": "records", "start": "2026-11-01"}},
            "schedule": {"cron": cron},
        }
    )
    expected = re.escape(f"schedule.cron: '{cron}' is not a cron schedule Dagster accepts")
    with pytest.raises(ExportConfigError, match=expected):
        build_definitions(config)
