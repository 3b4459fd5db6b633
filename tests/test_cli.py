"""The `logfire-export` commands that drive exports (`serve` is tested with the server)."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.dataset as ds
import pytest
from dagster import DagsterInstance, DagsterRunStatus, RunsFilter
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.orchestration.assets import REASON_TAG
from pipelines.server.runner import LocalLogfireServer
from pipelines.server.synthetic import generate_records
from tests.storage.s3_server import FAKE_CREDENTIALS, S3Endpoint, clear_s3fs_caches

DAY = datetime(2026, 12, 1, tzinfo=UTC)


@pytest.fixture
def project(server: LocalLogfireServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder whose settings point at the local server, with a daily export."""
    (tmp_path / "exports.yaml").write_text(
        "exports:\n  daily_records:\n    table: records\n    partitions: daily\n"
        "    start: 2026-11-01\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LOGFIRE_READ_TOKEN", server.read_token)
    monkeypatch.setenv("LOGFIRE_EXPORT_BASE_URL", server.base_url)
    (tmp_path / "out").mkdir()
    monkeypatch.setenv("LOGFIRE_EXPORT_STORAGE_ROOT", str(tmp_path / "out"))
    monkeypatch.setenv("LOGFIRE_EXPORT_CONFIG_FILE", str(tmp_path / "exports.yaml"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    server.store.append("records", generate_records(15_000, DAY, DAY + timedelta(days=2), seed=5))
    return tmp_path


def test_backfill_exports_each_day_as_a_recorded_dagster_run(
    project: Path, server: LocalLogfireServer
) -> None:
    result = CliRunner().invoke(
        app, ["backfill", "daily_records", "--from", "2026-12-01", "--to", "2026-12-03"]
    )
    assert result.exit_code == 0, result.output
    for day in (DAY, DAY + timedelta(days=1)):
        rows = server.store.count("records", day, day + timedelta(days=1))
        assert f"daily_records {day:%F}: ok, {rows:,} rows" in result.output
    table = ds.dataset(project / "out" / "daily_records", partitioning="hive").to_table()
    assert table.num_rows == server.store.count("records", DAY, DAY + timedelta(days=2))
    with DagsterInstance.from_config(str(project / "dagster_home")) as instance:
        runs = instance.get_runs(RunsFilter(statuses=[DagsterRunStatus.SUCCESS]))
        assert sorted(run.tags["dagster/partition"] for run in runs) == [
            "2026-12-01",
            "2026-12-02",
        ]
        assert {run.tags[REASON_TAG] for run in runs} == {"backfill"}


def test_backfill_over_another_formats_output_stops_before_any_run(
    project: Path, server: LocalLogfireServer
) -> None:
    days = ["--from", "2026-12-01", "--to", "2026-12-02"]
    assert CliRunner().invoke(app, ["backfill", "daily_records", *days]).exit_code == 0
    (project / "delta.yaml").write_text(
        "exports:\n  daily_records:\n    table: records\n    partitions: daily\n"
        "    start: 2026-11-01\n    format: delta\n"
    )
    server.query_log.clear()
    result = CliRunner().invoke(
        app,
        ["backfill", "daily_records", *days],
        env={"LOGFIRE_EXPORT_CONFIG_FILE": str(project / "delta.yaml")},
    )
    assert result.exit_code == 1
    [line] = result.output.strip().splitlines()
    assert f"error: {project / 'out' / 'daily_records'} holds Parquet partitions" in line
    assert len(server.query_log) == 0


def test_backfill_keeps_a_partition_the_server_now_has_fewer_rows_for(
    project: Path, server: LocalLogfireServer
) -> None:
    days = ["--from", "2026-12-01", "--to", "2026-12-02"]
    assert CliRunner().invoke(app, ["backfill", "daily_records", *days]).exit_code == 0
    archived = ds.dataset(project / "out" / "daily_records").count_rows()
    server.reset()  # as if Logfire's retention had dropped the day
    server.store.append("records", generate_records(100, DAY, DAY + timedelta(days=1), seed=6))

    now = server.store.count("records", DAY, DAY + timedelta(days=1))
    refused = CliRunner().invoke(app, ["backfill", "daily_records", *days])
    assert refused.exit_code == 1
    assert f"now has {now} rows for this window, but the partition holds {archived}" in (
        " ".join(refused.output.split())
    )
    assert ds.dataset(project / "out" / "daily_records").count_rows() == archived

    allowed = CliRunner().invoke(app, ["backfill", "daily_records", *days, "--allow-fewer-rows"])
    assert allowed.exit_code == 0, allowed.output
    assert ds.dataset(project / "out" / "daily_records").count_rows() == now


def test_backfill_of_an_unknown_export_names_the_known_ones(project: Path) -> None:
    result = CliRunner().invoke(
        app, ["backfill", "nope", "--from", "2026-12-01", "--to", "2026-12-02"]
    )
    assert result.exit_code != 0
    assert "unknown export 'nope'" in result.output
    assert "daily_records" in result.output


def test_plan_shows_chunks_without_writing(project: Path) -> None:
    result = CliRunner().invoke(app, ["plan", "daily_records", "2026-12-01"])
    assert result.exit_code == 0, result.output
    assert "chunk(s)" in result.output and "nothing was written" in result.output
    assert list((project / "out").iterdir()) == []


def test_backfill_failures_show_the_exports_own_message(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (project / "bad.yaml").write_text(
        "exports:\n  daily_records:\n    table: records\n    partitions: daily\n"
        "    start: 2026-11-01\n    where: no_such_column > 1\n"
    )
    monkeypatch.setenv("LOGFIRE_EXPORT_CONFIG_FILE", str(project / "bad.yaml"))
    result = CliRunner().invoke(
        app, ["backfill", "daily_records", "--from", "2026-12-01", "--to", "2026-12-02"]
    )
    assert result.exit_code == 1
    assert "export 'daily_records', window [2026-12-01T00:00:00.000000Z" in result.output
    assert "no_such_column" in result.output
    assert "1 of 1 partitions failed" in result.output


@pytest.mark.parametrize(
    ("key", "why"),
    [
        ("2026-12-01-13:00", "keys look like 2026-12-01"),
        ("2026-10-31", "before 'daily_records' starts"),
        ("2099-01-01", "has not closed yet"),
    ],
    ids=["format", "before-start", "not-closed"],
)
def test_plan_says_why_a_key_is_not_a_partition(project: Path, key: str, why: str) -> None:
    result = CliRunner().invoke(app, ["plan", "daily_records", key])
    assert result.exit_code != 0
    assert why in " ".join(result.output.split())  # the message may be wrapped in a box


def test_a_missing_token_is_one_clear_line(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOGFIRE_READ_TOKEN")
    result = CliRunner().invoke(app, ["plan", "daily_records", "2026-12-01"])
    assert result.exit_code == 1
    assert "no Logfire read token: set LOGFIRE_READ_TOKEN" in result.output
    assert "Traceback" not in result.output


def test_backfill_with_a_wrong_token_stops_before_any_run(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOGFIRE_READ_TOKEN", "pylf_v1_eu_wrong")
    result = CliRunner().invoke(
        app, ["backfill", "daily_records", "--from", "2026-12-01", "--to", "2026-12-03"]
    )
    assert result.exit_code == 1
    assert "refused the read token" in result.output
    assert "base URL was set explicitly" in result.output
    assert "Traceback" not in result.output
    assert not (project / "dagster_home").exists()  # no run was started


def test_backfill_skips_partitions_that_do_not_exist_yet(project: Path) -> None:
    today = datetime.now(UTC).date()
    args = ["--from", f"{today - timedelta(days=1)}", "--to", f"{today + timedelta(days=2)}"]
    result = CliRunner().invoke(app, ["backfill", "daily_records", *args])
    assert result.exit_code == 0, result.output
    assert "skipping 2 partitions that do not exist yet" in result.output
    assert f"daily_records {today - timedelta(days=1)}: ok" in result.output
    future = CliRunner().invoke(
        app,
        [
            "backfill",
            "daily_records",
            "--from",
            f"{today + timedelta(days=1)}",
            "--to",
            f"{today + timedelta(days=3)}",
        ],
    )
    assert future.exit_code != 0
    assert "no partitions of 'daily_records'" in future.output


def test_backfill_to_a_missing_local_folder_stops_before_any_run(
    project: Path, server: LocalLogfireServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = project / "missing" / "out"
    monkeypatch.setenv("LOGFIRE_EXPORT_STORAGE_ROOT", str(root))
    result = CliRunner().invoke(
        app, ["backfill", "daily_records", "--from", "2026-12-01", "--to", "2026-12-03"]
    )
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        f"error: output root '{root}' does not exist, and neither does its parent {root.parent}"
    ]
    assert len(server.query_log) == 0
    assert not (project / "missing").exists()
    assert not (project / "dagster_home").exists()  # no run was started


@pytest.fixture
def s3_settings(s3_endpoint: S3Endpoint, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The moto endpoint in the settings, fake credentials in the environment."""
    for name, value in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("LOGFIRE_EXPORT_S3_ENDPOINT_URL", s3_endpoint.url)
    clear_s3fs_caches()
    yield
    clear_s3fs_caches()


def test_backfill_to_a_missing_bucket_stops_before_any_run(
    project: Path, server: LocalLogfireServer, s3_settings: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOGFIRE_EXPORT_STORAGE_ROOT", "s3://no-such-bucket/logfire")
    result = CliRunner().invoke(
        app, ["backfill", "daily_records", "--from", "2026-12-01", "--to", "2026-12-03"]
    )
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        "error: output root 's3://no-such-bucket/logfire' is not writable: "
        "The specified bucket does not exist"
    ]
    assert len(server.query_log) == 0
    assert not (project / "dagster_home").exists()


def test_demo_to_a_missing_folder_stops_before_starting(project: Path) -> None:
    out = project / "missing" / "out"
    result = CliRunner().invoke(app, ["demo", "--out", str(out)])
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        f"error: output root '{out}' does not exist, and neither does its parent {out.parent}"
    ]
    assert not (project / "dagster_home").exists()
