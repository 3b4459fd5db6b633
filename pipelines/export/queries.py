"""The SQL the exporter sends for one export.

Every query repeats its half-open window as explicit predicates on the table's time column:
`min_timestamp` / `max_timestamp` are only pruning hints, because the API does not say
whether their bounds are inclusive. Columns are always listed; `SELECT *` has hit generated
columns on Logfire and failed (logfire#848, #1400).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from pipelines.export.spec import ExportSpec
from pipelines.export.window import sql_string, sql_timestamp

# A single timestamp can hold more rows than a request may return; such a tie is paged by
# keyset on these columns. DataFusion has no row-value comparison, so the predicate is
# spelled out term by term. Nullable columns are compared through COALESCE so that a NULL
# does not silently drop a row from every page.
TIEBREAK_KEYS: dict[str, tuple[str, ...]] = {
    "records": ("trace_id", "span_id"),
    "metrics": (
        "metric_name",
        "service_name",
        "COALESCE(service_instance_id, '')",
        "COALESCE(attributes, '')",
    ),
}
# Columns named like this are added to tie pages to read the keyset position, then dropped.
KEY_ALIAS_PREFIX = "__export_key_"


@dataclass(frozen=True)
class ExportQueries:
    """Builds every query for one export."""

    spec: ExportSpec

    @property
    def _time(self) -> str:
        return self.spec.time_column

    def _where(self, start: datetime, end: datetime) -> str:
        clause = f"{self._time} >= {sql_timestamp(start)} AND {self._time} < {sql_timestamp(end)}"
        if self.spec.where:
            clause += f" AND ({self.spec.where})"
        return clause

    def rows(self, start: datetime, end: datetime) -> str:
        """The export's columns for `[start, end)`, in time order."""
        columns = ", ".join(self.spec.selected_columns)
        return (
            f"SELECT {columns} FROM {self.spec.table} WHERE {self._where(start, end)} "
            f"ORDER BY {self._time}"
        )

    def count(self, start: datetime, end: datetime) -> str:
        """How many rows the server holds for `[start, end)`."""
        return f"SELECT count(*) AS rows FROM {self.spec.table} WHERE {self._where(start, end)}"

    def histogram(self, start: datetime, end: datetime, width_us: int) -> str:
        """Row counts per `width_us` bucket aligned on `start`; only non-empty buckets."""
        bucket = (
            f"date_bin(INTERVAL '{width_us} microseconds', {self._time}, {sql_timestamp(start)})"
        )
        return (
            f"SELECT {bucket} AS bucket, count(*) AS rows FROM {self.spec.table} "
            f"WHERE {self._where(start, end)} GROUP BY bucket ORDER BY bucket"
        )

    def timestamp_counts(self, start: datetime, end: datetime) -> str:
        """Row counts per distinct timestamp in `[start, end)`."""
        return (
            f"SELECT {self._time} AS bucket, count(*) AS rows FROM {self.spec.table} "
            f"WHERE {self._where(start, end)} GROUP BY bucket ORDER BY bucket"
        )

    @property
    def tiebreak_keys(self) -> tuple[str, ...]:
        return TIEBREAK_KEYS[self.spec.table]

    def tie_page(self, moment: datetime, after: Sequence[str] | None) -> str:
        """Rows at exactly `moment` whose tiebreak key comes after `after`, in key order."""
        keys = self.tiebreak_keys
        aliases = [f"{key} AS {KEY_ALIAS_PREFIX}{i}" for i, key in enumerate(keys)]
        columns = ", ".join([*self.spec.selected_columns, *aliases])
        where = f"{self._time} = {sql_timestamp(moment)}"
        if self.spec.where:
            where += f" AND ({self.spec.where})"
        if after is not None:
            where += f" AND ({_keyset_after(keys, after)})"
        order = ", ".join(keys)
        return f"SELECT {columns} FROM {self.spec.table} WHERE {where} ORDER BY {order}"


def _keyset_after(keys: Sequence[str], after: Sequence[str]) -> str:
    """`(k1, k2, ...) > (a1, a2, ...)` written without row values."""
    terms = []
    for i, key in enumerate(keys):
        equal = [f"{keys[j]} = {sql_string(after[j])}" for j in range(i)]
        terms.append(" AND ".join([*equal, f"{key} > {sql_string(after[i])}"]))
    return " OR ".join(f"({term})" for term in terms)
