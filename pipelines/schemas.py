"""The Logfire tables' columns as Arrow schemas.

The column names, types and nullability come from a real `GET /v1/schemas` answer
(`logfire_v1_schemas.json`, shipped with the package). Both the exporter (so that every
partition has the same schema, even an empty one) and the local server (so that it answers
with the same types as Logfire) build their Arrow schemas from here.
"""

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import pyarrow as pa

SCHEMAS_RESOURCE = "logfire_v1_schemas.json"

# Logfire describes columns with Postgres type names; these are their Arrow equivalents.
# Timestamps are microsecond UTC and JSON columns (attributes, otel_events, ...) stay strings.
_SQL_TO_ARROW: dict[str, pa.DataType] = {
    "TEXT": pa.string(),
    "INTEGER": pa.int32(),
    "BIGINT": pa.int64(),
    "BOOLEAN": pa.bool_(),
    "DOUBLE PRECISION": pa.float64(),
    "DATE": pa.date32(),
    "TIMESTAMP WITH TIME ZONE": pa.timestamp("us", tz="UTC"),
}


class UnknownColumnTypeError(ValueError):
    """A schema names a SQL type that has no Arrow mapping here."""


def arrow_type(sql_type: str) -> pa.DataType:
    """The Arrow type for one of Logfire's SQL column types, such as `TEXT[]`."""
    if sql_type.endswith("[]"):
        return pa.list_(arrow_type(sql_type[:-2]))
    try:
        return _SQL_TO_ARROW[sql_type]
    except KeyError:
        raise UnknownColumnTypeError(
            f"no Arrow type for Logfire column type {sql_type!r}"
        ) from None


@dataclass(frozen=True)
class TableDefinition:
    """One Logfire table: its name, the column its time windows filter on, and its schema."""

    name: str
    schema: pa.Schema
    # The column that `min_timestamp` / `max_timestamp` filter on for this table.
    time_column: str

    @property
    def columns(self) -> list[str]:
        return list(self.schema.names)


# `min_timestamp` / `max_timestamp` filter these columns on the real API.
_TIME_COLUMNS = {"records": "start_timestamp", "metrics": "recorded_timestamp"}


@cache
def _raw_schemas() -> dict[str, Any]:
    text = resources.files("pipelines").joinpath(SCHEMAS_RESOURCE).read_text(encoding="utf-8")
    raw: dict[str, Any] = json.loads(text)
    return raw


@cache
def table_definitions() -> dict[str, TableDefinition]:
    """Every table the Query API exposes, keyed by name (`records`, `metrics`)."""
    tables: dict[str, TableDefinition] = {}
    for table in _raw_schemas()["tables"]:
        fields = [
            pa.field(name, arrow_type(column["data_type"]), nullable=column["nullable"])
            for name, column in sorted(table["schema"].items())
        ]
        tables[table["name"]] = TableDefinition(
            name=table["name"],
            schema=pa.schema(fields),
            time_column=_TIME_COLUMNS[table["name"]],
        )
    return tables


def table_definition(name: str) -> TableDefinition:
    """The definition of one table; a clear error for a name Logfire does not have."""
    tables = table_definitions()
    try:
        return tables[name]
    except KeyError:
        known = ", ".join(sorted(tables))
        raise KeyError(f"unknown Logfire table {name!r}; known tables: {known}") from None


def raw_schemas_document() -> dict[str, Any]:
    """The `GET /v1/schemas` answer as Logfire gives it (the local server serves this)."""
    return _raw_schemas()
