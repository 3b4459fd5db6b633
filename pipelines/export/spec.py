"""What to export: the declarations in `config/exports.yaml`, validated.

    exports:
      records:                 # the export's name: asset key and folder under the root
        table: records         # a Logfire table
        partitions: hourly     # hourly or daily, always UTC
        start: 2026-11-01      # the first partition
        columns: [...]         # optional: a subset of the table's columns
        where: "is_exception"  # optional: a SQL filter added to every query
        cursor: created_at     # optional: partition by ingestion time instead
        settle_delay: 3600     # optional: seconds to wait after a window ends
    schedule:
      cron: "30 0 * * *"       # the nightly run (UTC) that exports yesterday
    reconciliation:
      lookback_days: 2         # re-export recent partitions whose counts drifted

Unknown keys and unknown columns fail with an error that names them and the export.
"""

import difflib
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import pyarrow as pa
import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

from pipelines.export.yaml_loader import parse_yaml
from pipelines.schemas import TableDefinition, table_definitions

EXPORT_NAME_PATTERN = r"^[a-z][a-z0-9_]*$"

INGEST_CURSOR = "created_at"
EVENT_SETTLE_DELAY = timedelta(hours=1)
# Logfire's draft docs: no new row gets a `created_at` more than 5 minutes in the past.
INGEST_SETTLE_DELAY = timedelta(minutes=5)
# Logfire accepts start times up to 24 hours in the past and 1 hour in the future.
MAX_LATENESS = timedelta(hours=24)
MAX_LEAD = timedelta(hours=1)


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
    # Plain Hive-partitioned Parquet, or a Delta Lake table at `<root>/<export>`.
    format: Literal["parquet", "delta"] = "parquet"
    # Which time the partitions cut: the table's event time (the default), or `created_at`
    # (ingestion time: append-only, every row exactly once, no re-exports).
    cursor: str | None = None
    # How long after a window ends before it is first exported. Default: 1 hour for event
    # time (most late spans have arrived by then), 5 minutes for `created_at` (Logfire
    # writes no new row with a `created_at` older than that).
    settle_delay: timedelta | None = None
    # The asset is flagged when its last materialization is older than these.
    freshness_warn_after: timedelta = timedelta(hours=26)
    freshness_fail_after: timedelta = timedelta(hours=30)

    @field_validator("table")
    @classmethod
    def _known_table(cls, table: str) -> str:
        if table not in table_definitions():
            known = ", ".join(sorted(table_definitions()))
            raise ValueError(f"unknown table {table!r}; Logfire has: {known}")
        return table

    @field_validator("where")
    @classmethod
    def _single_expression(cls, where: str | None) -> str | None:
        if where is not None:
            check_filter(where)
        return where

    def model_post_init(self, context: Any, /) -> None:
        allowed = (self.definition.time_column, INGEST_CURSOR)
        if self.cursor is not None and self.cursor not in allowed:
            raise ValueError(
                f"cursor must be {allowed[0]!r} or {allowed[1]!r}, not {self.cursor!r}"
            )
        if self.settle_delay is not None and self.settle_delay < timedelta(0):
            raise ValueError("settle_delay cannot be negative")
        if self.columns is None:
            return
        known = set(self.definition.columns)
        unknown = [c for c in self.columns if c not in known]
        if unknown:
            described = ", ".join(c + _suggestion(c, known) for c in unknown)
            raise ValueError(f"unknown columns for table {self.table!r}: {described}")
        if len(set(self.columns)) != len(self.columns):
            raise ValueError("columns are listed more than once")

    @property
    def definition(self) -> TableDefinition:
        return table_definitions()[self.table]

    @property
    def time_column(self) -> str:
        """The column the partitions cut: the cursor."""
        return self.cursor or self.definition.time_column

    @property
    def ingest_time(self) -> bool:
        """True for `cursor: created_at` exports (append-only, never re-exported)."""
        return self.time_column == INGEST_CURSOR

    @property
    def effective_settle_delay(self) -> timedelta:
        if self.settle_delay is not None:
            return self.settle_delay
        return INGEST_SETTLE_DELAY if self.ingest_time else EVENT_SETTLE_DELAY

    def hint_window(self, start: datetime, end: datetime) -> tuple[datetime, datetime]:
        """`min_timestamp` / `max_timestamp` for rows whose cursor is in `[start, end)`.

        The API filters the table's event time with them. For an ingest-time cursor they are
        widened by Logfire's lateness bounds, so that the server can still prune.
        """
        if self.ingest_time:
            return start - MAX_LATENESS, end + MAX_LEAD
        return start, end

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


def five_field_cron(cron: str) -> str:
    """`cron` if it has the five fields of a standard cron schedule (or is `@daily`...)."""
    # The common slip; Dagster checks the fields' values (and the @ aliases it knows) when
    # it builds the schedule.
    if not cron.startswith("@") and len(cron.split()) != 5:
        raise ValueError(
            f"{cron!r} is not a cron schedule: it needs five fields "
            "(minute hour day-of-month month day-of-week), e.g. '30 0 * * *'"
        )
    return cron


Cron = Annotated[str, AfterValidator(five_field_cron)]


class ReconciliationConfig(BaseModel):
    """The sensor that re-exports recent event-time partitions whose counts drifted."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    # Late rows arrive for up to a day, so two days of partitions are compared.
    lookback_days: int = Field(default=2, ge=1, le=30)
    max_partitions_per_tick: int = Field(default=24, ge=1)
    interval_minutes: int = Field(default=60, ge=1)


class ScheduleConfig(BaseModel):
    """The nightly export of the previous UTC day."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cron: Cron = "30 0 * * *"
    enabled: bool = True


class DeltaVacuumConfig(BaseModel):
    """The weekly removal of Delta files that no recent table version needs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    cron: Cron = "0 3 * * 0"
    # Files that a version younger than this references, or that were written more recently
    # (a concurrent export's, not committed yet), are kept: never below an hour.
    retention_hours: int = Field(default=168, ge=1)


class ExportsConfig(BaseModel):
    """The whole exports file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    exports: dict[str, ExportSpec]
    schedule: ScheduleConfig = ScheduleConfig()
    reconciliation: ReconciliationConfig = ReconciliationConfig()
    delta_vacuum: DeltaVacuumConfig = DeltaVacuumConfig()

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


def check_filter(where: str) -> None:
    """Refuse a `where` that is not one self-contained SQL expression.

    The filter is pasted into every query as `AND (<where>)`. A stray `)` would close that
    parenthesis early, so `a) OR (true` would silently drop the time window's predicates;
    a `;` or a comment would cut the query short. Whether the expression itself is valid is
    left to the server: its dialect (JSON operators and all) is the one that counts.
    """
    if not where.strip():
        raise ValueError("`where` is empty; leave it out to export every row")
    # Escape strings (E'\'') and dollar quotes ($$...$$) end where this scan cannot tell.
    if "\\" in where or "$$" in where:
        raise ValueError(f"`where` may not contain backslashes or $$ quotes: {where!r}")
    depth, quote, i = 0, "", 0
    while i < len(where):
        char = where[i]
        if quote:
            if char == quote and where[i + 1 : i + 2] == quote:
                i += 1  # a doubled quote is an escaped one
            elif char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth < 0:
                raise ValueError(f"`where` closes a parenthesis it never opened: {where!r}")
        elif char == ";" or where.startswith(("--", "/*"), i):
            raise ValueError(f"`where` must be one expression, without `;` or comments: {where!r}")
        i += 1
    if quote:
        raise ValueError(f"`where` has an unterminated {quote} quote: {where!r}")
    if depth:
        raise ValueError(f"`where` leaves {depth} parenthesis(es) open: {where!r}")


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
        with path.open(encoding="utf-8") as handle:
            document = parse_yaml(handle)
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
        return f"unknown key {location!r}" + _suggestion(
            str(error["loc"][-1]), _allowed_keys(error["loc"])
        )
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{location}: {message}" if location else message


def _allowed_keys(location: tuple[Any, ...]) -> set[str]:
    """The keys valid where an unknown key was found."""
    models: dict[tuple[str, ...], type[BaseModel]] = {
        (): ExportsConfig,
        ("schedule",): ScheduleConfig,
        ("reconciliation",): ReconciliationConfig,
        ("delta_vacuum",): DeltaVacuumConfig,
    }
    parent = tuple(str(part) for part in location[:-1])
    if len(parent) == 2 and parent[0] == "exports":
        return set(ExportSpec.model_fields) - {"name"}
    model = models.get(parent)
    return set(model.model_fields) if model else set()


def _suggestion(word: str, candidates: set[str]) -> str:
    close = difflib.get_close_matches(word, sorted(candidates), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
