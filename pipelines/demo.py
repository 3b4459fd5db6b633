"""`logfire-export demo`: the whole pipeline on real telemetry, with nothing to configure.

1. Start the local Logfire-compatible server (its data kept in `.logfire-local/`).
2. Run a small workload instrumented with the real `logfire` SDK, sending OTLP to it.
3. Add synthetic volume: over 100,000 records across the last few hours, so that every hour
   needs several chunks, plus metric points.
4. Materialize every hour with Dagster, recorded in a persistent instance (`DAGSTER_HOME`).
5. Compare, per partition, the rows on the server with the rows exported.
"""

import os
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from dagster import ExecuteInProcessResult, TimeWindow

from pipelines.export.runner import ALLOW_FEWER_ROWS_TAG
from pipelines.export.spec import load_exports
from pipelines.orchestration.assets import REASON_TAG, partitions_for
from pipelines.orchestration.build import build_definitions
from pipelines.orchestration.local_runs import (
    failure_message,
    materialize_partition,
    materialized_int,
    prepare_dagster_home,
)
from pipelines.orchestration.resources import LogfireQueryResource, ParquetStorageResource
from pipelines.server.runner import LocalLogfireServer
from pipelines.server.sdk_workload import run_sdk_workload_in_subprocess
from pipelines.server.store import TelemetryStore
from pipelines.server.synthetic import generate_records
from pipelines.server.synthetic_metrics import generate_metrics
from pipelines.settings import ExportSettings

# Each demo generates new random rows, so a re-run may find fewer in an hour than the
# last run exported into the same --out: that output is the demo's own, replace it.
DEMO_TAGS = {REASON_TAG: "demo", ALLOW_FEWER_ROWS_TAG: "true"}
DEMO_HOURS = 4  # the current hour and the three before it
SYNTHETIC_RECORDS = 120_000
SYNTHETIC_METRICS = 6_000
DEFAULT_SERVER_DATA = Path(".logfire-local")


@dataclass(frozen=True)
class PartitionRow:
    """One line of the demo's report."""

    export: str
    partition: str
    server_rows: int
    exported_rows: int
    files: int
    requests: int
    succeeded: bool
    error: str = ""

    @property
    def matches(self) -> bool:
        return self.succeeded and self.server_rows == self.exported_rows


@dataclass(frozen=True)
class DemoReport:
    rows: list[PartitionRow]
    out: Path
    dagster_home: Path
    server_data: Path
    records_sent: int

    @property
    def ok(self) -> bool:
        return bool(self.rows) and all(row.matches for row in self.rows)


def run_demo(out: Path, dagster_home: Path, server_data: Path = DEFAULT_SERVER_DATA) -> DemoReport:
    now = datetime.now(UTC)
    current_hour = now.replace(minute=0, second=0, microsecond=0)
    first_hour = current_hour - timedelta(hours=DEMO_HOURS - 1)
    # Start from a clean slate so that repeated demos do not pile up telemetry.
    shutil.rmtree(server_data, ignore_errors=True)
    instance = prepare_dagster_home(dagster_home)
    config = load_exports(ExportSettings().config_file)

    with LocalLogfireServer(store=TelemetryStore(server_data)) as server:
        run_sdk_workload_in_subprocess(server.base_url, server.write_token)
        records_sent = server.store.row_count("records")
        server.store.append(
            "records", generate_records(SYNTHETIC_RECORDS, first_hour, now, seed=2026, now=now)
        )
        server.store.append(
            "metrics", generate_metrics(SYNTHETIC_METRICS, first_hour, now, seed=2026, now=now)
        )
        # The demo's own server, the demo's own token: the resource reads it like any other.
        os.environ["LOGFIRE_READ_TOKEN"] = server.read_token
        defs = build_definitions(
            config,
            logfire=LogfireQueryResource(base_url=server.base_url),
            storage=ParquetStorageResource(root=str(out)),
            # The SDK's telemetry is in the running hour: offer it as a partition too.
            end_offset=1,
        )
        rows = []
        for name, spec in config.exports.items():
            keys = partitions_for(spec, end_offset=1).get_partition_keys_in_time_window(
                TimeWindow(first_hour, current_hour + timedelta(hours=1))
            )
            for key in keys:
                result = materialize_partition(
                    defs, name, key, instance, log_level="WARNING", tags=DEMO_TAGS
                )
                rows.append(_row(name, key, result))
    return DemoReport(
        rows, out.resolve(), dagster_home.resolve(), server_data.resolve(), records_sent
    )


def _row(export: str, key: str, result: ExecuteInProcessResult) -> PartitionRow:
    if not result.success:
        return PartitionRow(export, key, 0, 0, 0, 0, False, failure_message(result))
    return PartitionRow(
        export=export,
        partition=key,
        server_rows=materialized_int(result, export, "server_count"),
        exported_rows=materialized_int(result, export, "rows"),
        files=materialized_int(result, export, "files"),
        requests=materialized_int(result, export, "requests"),
        succeeded=True,
    )
