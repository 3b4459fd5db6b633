"""Export Pydantic Logfire telemetry into time-partitioned Parquet with Dagster."""
