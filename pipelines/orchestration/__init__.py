"""The thin Dagster layer: resources, one asset per export, checks and schedules."""
