"""One partitioned asset per export, with a row-count check against the server."""

# No `from __future__ import annotations` here: Dagster reads the context annotation.

from typing import Any

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetsDefinition,
    DailyPartitionsDefinition,
    FreshnessPolicy,
    HourlyPartitionsDefinition,
    MaterializeResult,
    MetadataValue,
    TableColumn,
    TableColumnConstraints,
    TableSchema,
    TimeWindowPartitionsDefinition,
    asset,
)

from pipelines.export.runner import ALLOW_FEWER_ROWS_TAG, PartitionExporter, PartitionResult
from pipelines.export.spec import ExportSpec
from pipelines.export.window import TimeWindow, iso_utc, utc_now
from pipelines.orchestration.resources import LogfireQueryResource, ParquetStorageResource

ROW_COUNT_CHECK = "row_count_matches_server"
# Why a run exported a partition (nightly, reconcile); absent for runs launched by hand.
REASON_TAG = "logfire_export/reason"
GROUP_NAME = "logfire_export"
# Every export asset takes a slot in this pool, so `dagster instance concurrency set
# logfire_api N` caps the requests to Logfire across all runs.
POOL = "logfire_api"


def partitions_for(spec: ExportSpec, *, end_offset: int = 0) -> TimeWindowPartitionsDefinition:
    """UTC partitions: DST-free, so no hour is skipped or repeated."""
    if spec.partitions == "hourly":
        return HourlyPartitionsDefinition(
            start_date=f"{spec.start.isoformat()}-00:00", timezone="UTC", end_offset=end_offset
        )
    return DailyPartitionsDefinition(
        start_date=spec.start.isoformat(), timezone="UTC", end_offset=end_offset
    )


def column_schema(spec: ExportSpec) -> TableSchema:
    return TableSchema(
        columns=[
            TableColumn(
                name=field.name,
                type=str(field.type),
                constraints=TableColumnConstraints(nullable=field.nullable),
            )
            for field in spec.arrow_schema
        ]
    )


def build_export_asset(
    spec: ExportSpec, partitions_def: TimeWindowPartitionsDefinition
) -> AssetsDefinition:
    """The asset that exports `spec`, one partition per run."""
    description = spec.description or (
        f"Logfire `{spec.table}` exported {spec.partitions} to Parquet"
        + (f" (where {spec.where})" if spec.where else "")
        + "."
    )

    @asset(
        name=spec.name,
        partitions_def=partitions_def,
        # No backfill_policy: Dagster's default launches one run per partition, which gives
        # every partition its own metadata and check result.
        check_specs=[
            AssetCheckSpec(
                ROW_COUNT_CHECK,
                asset=spec.name,
                description="Exported rows equal the server's count(*) for the window.",
            )
        ],
        kinds={"parquet", "logfire"},
        # Flags an export whose last materialization is older than expected (a stopped
        # daemon, a failing nightly run); needs `freshness: enabled: true` in dagster.yaml.
        freshness_policy=FreshnessPolicy.time_window(
            fail_window=spec.freshness_fail_after, warn_window=spec.freshness_warn_after
        ),
        group_name=GROUP_NAME,
        pool=POOL,
        description=description,
        metadata={"table": spec.table, "partitioning": f"{spec.partitions} (UTC)"},
    )
    def export_asset(
        context: AssetExecutionContext,
        logfire: LogfireQueryResource,
        storage: ParquetStorageResource,
    ) -> MaterializeResult:  # type: ignore[type-arg]  # Dagster rejects a parametrized annotation
        keys = context.partition_keys
        if len(keys) != 1:
            raise ValueError(
                f"export {spec.name!r} materializes one partition per run, got {len(keys)} "
                f"({keys[0]} to {keys[-1]}); launch a backfill instead of a range run"
            )
        dagster_window = partitions_def.time_window_for_partition_key(keys[0])
        window = TimeWindow(dagster_window.start, dagster_window.end)
        store = storage.store()
        # Fail on an unusable root before spending any request on the API.
        store.check_writable()
        if window.end + spec.effective_settle_delay > utc_now():
            # Legitimate (a manual run, the demo); reconciliation picks up what arrives later.
            context.log.info(
                "export %r %s has not settled yet (settle delay %s): late rows may follow",
                spec.name,
                window,
                spec.effective_settle_delay,
            )
        with logfire.client() as client:
            exporter = PartitionExporter(client, store, log=context.log)
            result = exporter.export(
                spec,
                window,
                run_id=context.run.run_id,
                allow_fewer_rows=context.run.tags.get(ALLOW_FEWER_ROWS_TAG) == "true",
            )
            server_count = exporter.server_count(spec, window)
        context.log.info(
            "export %r %s: %d rows in %d files, %d requests, %d splits, %.1fs",
            spec.name,
            window,
            result.rows,
            len(result.files),
            result.requests,
            result.splits,
            result.duration_s,
        )
        metadata = _metadata(spec, result, server_count)
        metadata["reason"] = context.run.tags.get(REASON_TAG, "manual")
        if result.previous_rows is not None:
            # What a re-export (a reconciliation, a re-run) brought in since the last one.
            metadata["previous_rows"] = result.previous_rows
            metadata["rows_gained"] = result.rows - result.previous_rows
        return MaterializeResult(
            metadata=metadata,
            check_results=[_row_count_check(result, server_count)],
        )

    return export_asset


def _metadata(spec: ExportSpec, result: PartitionResult, server_count: int) -> dict[str, Any]:
    return {
        "dagster/row_count": result.rows,
        "dagster/partition_row_count": result.rows,
        "dagster/uri": MetadataValue.path(result.uri),
        "dagster/column_schema": column_schema(spec),
        "cursor": spec.time_column,
        "window_start": iso_utc(result.window.start),
        "window_end": iso_utc(result.window.end),
        "rows": result.rows,
        "server_count": server_count,
        "files": len(result.files),
        "bytes": result.bytes,
        "requests": result.requests,
        "chunks": result.chunks,
        "splits": result.splits,
        "retries": result.retries,
        "throttled": result.throttled,
        "duration_s": result.duration_s,
    }


def _row_count_check(result: PartitionResult, server_count: int) -> AssetCheckResult:
    # WARN, not ERROR: rows that arrive after the export (late spans) also make these differ,
    # and a re-export of the partition is the remedy, not a failed run.
    return AssetCheckResult(
        check_name=ROW_COUNT_CHECK,
        passed=result.rows == server_count,
        severity=AssetCheckSeverity.WARN,
        metadata={
            "exported_rows": result.rows,
            "server_count": server_count,
            "difference": server_count - result.rows,
        },
    )
