"""The `logfire-export` command line. Each command is a thin layer over the package."""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from dagster import Definitions, TimeWindow, TimeWindowPartitionsDefinition
from rich.console import Console
from rich.table import Table

from pipelines.demo import run_demo
from pipelines.demo_report import demo_epilogue, demo_table
from pipelines.export.runner import ALLOW_FEWER_ROWS_TAG, ExportError, PartitionExporter
from pipelines.export.spec import ExportConfigError, ExportSpec, load_exports
from pipelines.export.window import TimeWindow as ExportWindow
from pipelines.export.window import iso_utc
from pipelines.orchestration.assets import REASON_TAG, partitions_for
from pipelines.orchestration.build import build_definitions
from pipelines.orchestration.local_runs import (
    DEFAULT_DAGSTER_HOME,
    failure_message,
    materialize_partition,
    materialized_int,
    prepare_dagster_home,
)
from pipelines.orchestration.resources import LogfireQueryResource, ParquetStorageResource
from pipelines.query_api import LogfireQueryError
from pipelines.server.runner import DEFAULT_READ_TOKEN, DEFAULT_WRITE_TOKEN, serve
from pipelines.server.store import TelemetryStore
from pipelines.server.synthetic import generate_records
from pipelines.settings import ExportSettings, MissingReadTokenError
from pipelines.storage.partitions import StorageError

app = typer.Typer(help="Export Pydantic Logfire telemetry to Parquet.", no_args_is_help=True)


# Failures a user can fix from the message alone: shown as one line, not a traceback.
USER_ERRORS = (
    ExportConfigError,
    ExportError,
    LogfireQueryError,
    MissingReadTokenError,
    StorageError,
)


@contextmanager
def user_errors() -> Iterator[None]:
    try:
        yield
    except USER_ERRORS as exc:
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        raise typer.Exit(1) from exc


@app.callback()
def main() -> None:
    """Export Pydantic Logfire telemetry to Parquet."""


@app.command("serve")
def serve_command(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    data: Annotated[
        Path | None, typer.Option(help="Directory that keeps the data across restarts.")
    ] = None,
    read_token: Annotated[
        str, typer.Option(envvar="LOCAL_LOGFIRE_READ_TOKEN", help="Token for the query API.")
    ] = DEFAULT_READ_TOKEN,
    write_token: Annotated[
        str, typer.Option(envvar="LOCAL_LOGFIRE_WRITE_TOKEN", help="Token for OTLP intake.")
    ] = DEFAULT_WRITE_TOKEN,
    synthetic_rows: Annotated[
        int,
        typer.Option(
            help="Add this many generated records (last 24 h) at start; they add up with --data."
        ),
    ] = 0,
) -> None:
    """Run a local Logfire-compatible server (query API and OTLP intake)."""
    store = TelemetryStore(data)
    if synthetic_rows:
        end = datetime.now(UTC)
        store.append("records", generate_records(synthetic_rows, end - timedelta(days=1), end))
        typer.echo(f"preloaded {synthetic_rows} synthetic records")
    if (read_token, write_token) == (DEFAULT_READ_TOKEN, DEFAULT_WRITE_TOKEN):
        # The defaults are public (they are in the source); custom tokens are never echoed.
        typer.echo(f"read token:  {read_token}\nwrite token: {write_token}")
    serve(host, port, read_token=read_token, write_token=write_token, store=store)


@app.command("demo")
def demo_command(
    out: Annotated[Path, typer.Option(help="Where the Parquet files go.")] = Path("data"),
    dagster_home: Annotated[
        Path,
        typer.Option(envvar="DAGSTER_HOME", help="The Dagster instance that records the runs."),
    ] = DEFAULT_DAGSTER_HOME,
) -> None:
    """Run the whole pipeline on real telemetry against a local server; no token needed."""
    console = Console()
    if not out.exists() and out.parent.is_dir():
        out.mkdir()  # the demo's own folder: unlike an export root, it may be made here
    with user_errors():
        # The same resource as the demo's runs: a bad --out fails here, not once per hour.
        ParquetStorageResource(root=str(out)).store().check_writable()
    with user_errors(), console.status("Sending telemetry and exporting every hour..."):
        report = run_demo(out, dagster_home)
    console.print(demo_table(report))
    if not report.ok:
        console.print("[red]Some partitions failed or their row counts differ.[/red]")
        for row in report.rows:
            if row.error:
                console.print(f"{row.export} {row.partition}: {row.error}")
        raise typer.Exit(1)
    typer.echo(demo_epilogue(report))


@app.command("backfill")
def backfill_command(
    export: Annotated[str, typer.Argument(help="The export's name in the exports file.")],
    start: Annotated[datetime, typer.Option("--from", formats=["%Y-%m-%d"], help="First day.")],
    end: Annotated[
        datetime, typer.Option("--to", formats=["%Y-%m-%d"], help="Day after the last one.")
    ],
    dagster_home: Annotated[
        Path,
        typer.Option(envvar="DAGSTER_HOME", help="The Dagster instance that records the runs."),
    ] = DEFAULT_DAGSTER_HOME,
    allow_fewer_rows: Annotated[
        bool,
        typer.Option(
            help="Replace partitions even with fewer rows than they hold (rows deleted in "
            "Logfire on purpose); by default such a partition is left as it is."
        ),
    ] = False,
) -> None:
    """Export every partition of the UTC days [--from, --to), one Dagster run each."""
    spec, defs = _project_export(export)
    if end <= start:
        raise typer.BadParameter(f"--to {end:%F} must be after --from {start:%F}")
    partitions_def = partitions_for(spec)
    wanted = partitions_def.get_partition_keys_in_time_window(
        TimeWindow(start.replace(tzinfo=UTC), end.replace(tzinfo=UTC))
    )
    # Only closed windows from the export's start date on are partitions.
    existing = set(partitions_def.get_partition_keys())
    keys = [key for key in wanted if key in existing]
    if not keys:
        raise typer.BadParameter(
            f"no partitions of {export!r} between {start:%F} and {end:%F}: they start on "
            f"{spec.start} and end with the last closed "
            f"{'hour' if spec.partitions == 'hourly' else 'day'}"
        )
    console = Console()
    if len(keys) < len(wanted):
        console.print(f"skipping {len(wanted) - len(keys)} partitions that do not exist yet")
    # Checked once here, not once per run: an unusable output root (a missing folder or
    # bucket, no credentials), then a bad token or an unreachable API.
    with user_errors():
        store = ParquetStorageResource().store()
        store.check_writable()
        store.check_format(export, spec.format)
        with LogfireQueryResource().client() as client:
            client.read_token_info()
    instance = prepare_dagster_home(dagster_home)
    tags = {REASON_TAG: "backfill"}
    if allow_fewer_rows:
        tags[ALLOW_FEWER_ROWS_TAG] = "true"
    failed = 0
    for key in keys:
        result = materialize_partition(defs, export, key, instance, log_level="WARNING", tags=tags)
        if result.success:
            console.print(f"{export} {key}: ok, {materialized_int(result, export, 'rows'):,} rows")
        else:
            failed += 1
            console.print(f"{export} {key}: [red]failed[/red]: {failure_message(result)}")
    if failed:
        console.print(f"[red]{failed} of {len(keys)} partitions failed; see the Dagster UI.[/]")
        raise typer.Exit(1)


@app.command("plan")
def plan_command(
    export: Annotated[str, typer.Argument(help="The export's name in the exports file.")],
    partition: Annotated[str, typer.Argument(help="A partition key, e.g. 2026-12-01-13:00.")],
) -> None:
    """Show the chunks an export of one partition would fetch (a dry run: nothing written)."""
    spec, _ = _project_export(export)
    partitions_def = partitions_for(spec)
    if not partitions_def.has_partition_key(partition):
        raise typer.BadParameter(_why_not_a_partition(spec, partitions_def, partition))
    dagster_window = partitions_def.time_window_for_partition_key(partition)
    window = ExportWindow(dagster_window.start, dagster_window.end)
    with user_errors(), LogfireQueryResource().client() as client:
        exporter = PartitionExporter(client, ParquetStorageResource().store())
        chunks = exporter.plan(spec, window)
        requests = client.stats.requests
    table = Table("start", "end", "rows", "how")
    for chunk in chunks:
        how = "keyset pages (one timestamp)" if chunk.tie else "one request"
        table.add_row(iso_utc(chunk.start), iso_utc(chunk.end), f"{chunk.expected_rows:,}", how)
    console = Console()
    console.print(table)
    rows = sum(c.expected_rows for c in chunks)
    console.print(
        f"{export} {partition}: {rows:,} rows in {len(chunks)} chunk(s); "
        f"planning took {requests} request(s); nothing was written"
    )


def _why_not_a_partition(
    spec: ExportSpec, partitions_def: TimeWindowPartitionsDefinition, key: str
) -> str:
    """Why `key` names no partition: its format, or a window before the start or not closed."""
    unit = "hour" if spec.partitions == "hourly" else "day"
    example = "2026-12-01-13:00" if spec.partitions == "hourly" else "2026-12-01"
    try:
        start = datetime.strptime(key, partitions_def.fmt).replace(tzinfo=UTC)
    except ValueError:
        return f"{key!r} is not a partition key of {spec.name!r}: keys look like {example}"
    if start.date() < spec.start:
        return f"{key!r} is before {spec.name!r} starts ({spec.start}, its `start`)"
    last = partitions_def.get_last_partition_key()
    return f"{key!r} has not closed yet: {spec.name!r} exports whole {unit}s" + (
        f"; the latest closed one is {last}" if last else ""
    )


def _project_export(export: str) -> tuple[ExportSpec, Definitions]:
    with user_errors():
        config = load_exports(ExportSettings().config_file)
    if export not in config.exports:
        known = ", ".join(sorted(config.exports))
        raise typer.BadParameter(f"unknown export {export!r}; the exports file declares {known}")
    return config.exports[export], build_definitions(config)
