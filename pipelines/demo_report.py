"""How the demo's result is shown: a table per partition and where to look next."""

from rich.table import Table

from pipelines.demo import DemoReport
from pipelines.server.runner import DEFAULT_READ_TOKEN


def demo_table(report: DemoReport) -> Table:
    table = Table(title="Exported partitions")
    table.add_column("export")
    table.add_column("partition", no_wrap=True)
    for column in ("server", "exported", "files", "requests"):
        table.add_column(column, justify="right")
    table.add_column("match")
    for row in report.rows:
        if not row.succeeded:
            # Nothing was counted: zeros would read as "the server is empty".
            table.add_row(row.export, row.partition, "-", "-", "-", "-", "[red]failed[/red]")
            continue
        table.add_row(
            row.export,
            row.partition,
            f"{row.server_rows:,}",
            f"{row.exported_rows:,}",
            str(row.files),
            str(row.requests),
            "[green]yes[/green]" if row.matches else "[red]NO[/red]",
        )
    table.add_section()
    table.add_row(
        "total",
        "",
        f"{sum(r.server_rows for r in report.rows):,}",
        f"{sum(r.exported_rows for r in report.rows):,}",
        str(sum(r.files for r in report.rows)),
        str(sum(r.requests for r in report.rows)),
        "",
    )
    return table


def demo_epilogue(report: DemoReport) -> str:
    pattern = f"{report.out}/records/**/*.parquet"
    read_back = (
        # The partition columns are strings; unguided, Polars makes them a date and an int.
        f"import polars as pl; print(pl.scan_parquet('{pattern}', hive_partitioning=True, "
        "hive_schema={'date': pl.String, 'hour': pl.String})"
        ".group_by('date', 'hour').len().sort('date', 'hour').collect())"
    )
    return f"""
"server" is the server's count(*) for the partition, "exported" the rows written.
All {len(report.rows)} partitions match; {report.records_sent} records came from the logfire SDK
over OTLP, the rest is synthetic.

Parquet files (<export>/date=YYYY-MM-DD/hour=HH/part-*.parquet) are in {report.out}
  python -c "{read_back}"

The runs are in the Dagster instance at {report.dagster_home}. To open them in the
Dagster UI with the same local server as the source:
  logfire-export serve --data {report.server_data} &
  export DAGSTER_HOME={report.dagster_home}
  export LOGFIRE_READ_TOKEN={DEFAULT_READ_TOKEN}
  export LOGFIRE_EXPORT_BASE_URL=http://127.0.0.1:8000
  export LOGFIRE_EXPORT_STORAGE_ROOT={report.out}
  dagster dev      # then open http://127.0.0.1:3000
"""
