"""The `logfire-export` command line. Each command is a thin layer over the package."""

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer

from pipelines.server.runner import DEFAULT_READ_TOKEN, DEFAULT_WRITE_TOKEN, serve
from pipelines.server.store import TelemetryStore
from pipelines.server.synthetic import generate_records

app = typer.Typer(help="Export Pydantic Logfire telemetry to Parquet.", no_args_is_help=True)


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
