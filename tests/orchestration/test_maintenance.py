"""The Delta vacuum job and its schedule, run in a real Dagster instance."""

from pathlib import Path

from dagster import DagsterInstance

from pipelines.export.spec import parse_exports
from pipelines.orchestration.build import build_definitions
from pipelines.orchestration.maintenance import JOB_NAME
from pipelines.orchestration.resources import ParquetStorageResource
from tests.orchestration.metadata import int_entry
from tests.storage.helpers import PARTITION, SCHEMA, rows


def exports(format: str) -> dict[str, object]:
    return {
        "exports": {"records": {"table": "records", "start": "2026-11-01", "format": format}},
        "delta_vacuum": {"cron": "15 4 * * 6", "retention_hours": 48},
    }


def test_delta_exports_get_a_weekly_vacuum_that_reports_on_the_asset(tmp_path: Path) -> None:
    storage = ParquetStorageResource(root=str(tmp_path))
    store = storage.store()
    for version in ("v1", "v2"):
        with store.writer("records", PARTITION, SCHEMA, format="delta") as writer:
            writer.write(rows(version, 5))
            writer.commit({"run_id": version, "partition": dict(PARTITION)})
    defs = build_definitions(parse_exports(exports("delta")), storage=storage)
    schedule = defs.resolve_schedule_def(f"{JOB_NAME}_weekly")
    assert schedule.cron_schedule == "15 4 * * 6"

    with DagsterInstance.ephemeral() as instance:
        result = defs.resolve_job_def(JOB_NAME).execute_in_process(instance=instance)
        assert result.success
        [observation] = [
            event.asset_observation_data.asset_observation
            for event in result.all_events
            if event.is_asset_observation
        ]
    assert observation.asset_key.to_user_string() == "records"
    # v1's files are minutes old, well inside the 48 hours kept.
    assert int_entry(observation.metadata, "vacuumed_files") == 0
    assert int_entry(observation.metadata, "retention_hours") == 48


def test_parquet_only_projects_have_no_vacuum_job() -> None:
    defs = build_definitions(parse_exports(exports("parquet")))
    assert JOB_NAME not in {job.name for job in defs.resolve_all_job_defs()}
