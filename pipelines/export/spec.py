"""What to export: the declarations in `config/exports.yaml`, validated.

    exports:
      records:                 # the export's name: asset key and folder under the root
        table: records         # a Logfire table
        partitions: hourly     # hourly or daily, always UTC
        start: 2026-11-01      # the first partition
        columns: [...]         # optional: a subset of the table's columns
        where: "is_exception"  # optional: a SQL filter added to every query
    schedule:
      cron: "30 0 * * *"       # the nightly run (UTC) that exports yesterday

Unknown keys and unknown columns fail with an error that names them and the export.
"""

from datetime import date
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from pipelines.schemas import TableDefinition, table_definitions

EXPORT_NAME_PATTERN = r"^[a-z][a-z0-9_]*$"


class ExportConfigError(ValueError):
    """The exports file is missing, unreadable or invalid."""


class ExportSpec(BaseModel):
    """One export: a table, how it is partitioned, and what of it is kept."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=EXPORT_NAME_PATTERN)
    table: str
    partitions: Literal["hourly", "daily"] = "hourly"
    start: date
    columns: tuple[str, ...] | None = None
    where: str | None = None
    description: str | None = None

    @field_validator("table")
    @classmethod
    def _known_table(cls, table: str) -> str:
        if table not in table_definitions():
            known = ", ".join(sorted(table_definitions()))
            raise ValueError(f"unknown table {table!r}; Logfire has: {known}")
        return table

    @field_validator("where")
    @classmethod
    def _non_blank_filter(cls, where: str | None) -> str | None:
        if where is not None and not where.strip():
            raise ValueError("`where` is empty; leave it out to export every row")
        return where

    def model_post_init(self, context: Any, /) -> None:
        if self.columns is None:
            return
        known = set(self.definition.columns)
        unknown = [c for c in self.columns if c not in known]
        if unknown:
            raise ValueError(f"unknown columns for table {self.table!r}: {', '.join(unknown)}")
        if len(set(self.columns)) != len(self.columns):
            raise ValueError("columns are listed more than once")

    @property
    def definition(self) -> TableDefinition:
        return table_definitions()[self.table]

    @property
    def time_column(self) -> str:
        return self.definition.time_column

    @property
    def selected_columns(self) -> list[str]:
        """The columns written, in the table's order (so files compare across exports)."""
        if self.columns is None:
            return self.definition.columns
        wanted = set(self.columns)
        return [c for c in self.definition.columns if c in wanted]

    @property
    def arrow_schema(self) -> pa.Schema:
        """The one schema every partition of this export has, empty ones included."""
        schema = self.definition.schema
        return pa.schema([schema.field(name) for name in self.selected_columns])


class ScheduleConfig(BaseModel):
    """The nightly export of the previous UTC day."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cron: str = "30 0 * * *"
    enabled: bool = True


class ExportsConfig(BaseModel):
    """The whole exports file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    exports: dict[str, ExportSpec]
    schedule: ScheduleConfig = ScheduleConfig()

    @field_validator("exports", mode="before")
    @classmethod
    def _name_each_export(cls, exports: Any) -> Any:
        # The name is the mapping key; copy it in so that each spec knows who it is.
        if isinstance(exports, dict):
            return {
                name: {"name": name, **body} if isinstance(body, dict) else body
                for name, body in exports.items()
            }
        return exports

    @field_validator("exports")
    @classmethod
    def _at_least_one(cls, exports: dict[str, ExportSpec]) -> dict[str, ExportSpec]:
        if not exports:
            raise ValueError("declare at least one export")
        return exports


def parse_exports(document: Any, *, source: str = "exports configuration") -> ExportsConfig:
    """Validate an already-parsed exports document; errors name the key path and problem."""
    try:
        return ExportsConfig.model_validate(document)
    except ValidationError as exc:
        problems = "; ".join(_describe(error) for error in exc.errors())
        raise ExportConfigError(f"{source} is invalid: {problems}") from None


def load_exports(path: Path) -> ExportsConfig:
    """Read and validate an exports file."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ExportConfigError(
            f"exports file {path} does not exist; set LOGFIRE_EXPORT_CONFIG_FILE or run from "
            "the project root"
        ) from None
    except yaml.YAMLError as exc:
        raise ExportConfigError(f"exports file {path} is not valid YAML: {exc}") from exc
    return parse_exports(document, source=f"exports file {path}")


def _describe(error: Any) -> str:
    location = ".".join(str(part) for part in error["loc"])
    if error["type"] == "extra_forbidden":
        return f"unknown key {location!r}"
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{location}: {message}" if location else message
