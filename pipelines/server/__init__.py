"""A local, Logfire-compatible server: the query API over DataFusion plus OTLP intake.

It is the exporter's test and demo source: same endpoints, shapes, limits and errors as
Logfire's Query API (see `/work/shared/docs/logfire-query-api.md` for what is known), filled
by the real `logfire` SDK over OTLP or by the synthetic generators.
"""

from pipelines.server.app import Project, create_app
from pipelines.server.faults import Fault, Faults
from pipelines.server.query_endpoints import QueryLog, QueryLogEntry
from pipelines.server.runner import (
    DEFAULT_READ_TOKEN,
    DEFAULT_WRITE_TOKEN,
    LocalLogfireServer,
    serve,
)
from pipelines.server.store import QueryFailed, QueryScope, TelemetryStore
from pipelines.server.synthetic import generate_metrics, generate_records, records_at

__all__ = [
    "DEFAULT_READ_TOKEN",
    "DEFAULT_WRITE_TOKEN",
    "Fault",
    "Faults",
    "LocalLogfireServer",
    "Project",
    "QueryFailed",
    "QueryLog",
    "QueryLogEntry",
    "QueryScope",
    "TelemetryStore",
    "create_app",
    "generate_metrics",
    "generate_records",
    "records_at",
    "serve",
]
