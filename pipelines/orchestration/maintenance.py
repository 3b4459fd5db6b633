"""The weekly vacuum of Delta tables: one job over every `format: delta` export.

Each partition replace leaves the previous version's files in the table (the log marks them
removed; readers of older versions still use them), and a killed export leaves files that
no version references. Without a vacuum both pile up forever. The job keeps everything a
version younger than `retention_hours` needs, so time travel within that window and any
export still writing (its files are younger) are safe.
"""

from dagster import (
    AssetObservation,
    DefaultScheduleStatus,
    JobDefinition,
    OpExecutionContext,
    ScheduleDefinition,
    job,
    op,
)

from pipelines.export.spec import DeltaVacuumConfig, ExportSpec
from pipelines.orchestration.resources import ParquetStorageResource

JOB_NAME = "delta_vacuum"


def build_delta_vacuum(
    specs: dict[str, ExportSpec], config: DeltaVacuumConfig
) -> tuple[JobDefinition, ScheduleDefinition]:
    """The vacuum job for the Delta exports in `specs`, and its schedule."""
    names = sorted(name for name, spec in specs.items() if spec.format == "delta")

    @op(name="vacuum_delta_tables", description=f"Vacuums the Delta tables of {names}.")
    def vacuum_delta_tables(context: OpExecutionContext, storage: ParquetStorageResource) -> None:
        store = storage.store()
        for name in names:
            removed = store.vacuum_delta(name, config.retention_hours)
            if removed is None:
                context.log.info("export %r has no Delta table yet", name)
                continue
            context.log.info("vacuumed export %r: %d files removed", name, len(removed))
            # On the asset's page, next to its materializations.
            context.log_event(
                AssetObservation(
                    asset_key=name,
                    metadata={
                        "vacuumed_files": len(removed),
                        "retention_hours": config.retention_hours,
                    },
                )
            )

    @job(name=JOB_NAME, description="Removes Delta files no recent table version needs.")
    def delta_vacuum() -> None:
        vacuum_delta_tables()

    schedule = ScheduleDefinition(
        name=f"{JOB_NAME}_weekly",
        job=delta_vacuum,
        cron_schedule=config.cron,
        execution_timezone="UTC",
        default_status=(
            DefaultScheduleStatus.RUNNING if config.enabled else DefaultScheduleStatus.STOPPED
        ),
    )
    return delta_vacuum, schedule
