"""The Dagster code location: `dagster dev` in the project root loads `defs` from here."""

from pipelines.export.spec import load_exports
from pipelines.orchestration.build import build_definitions
from pipelines.settings import ExportSettings

defs = build_definitions(load_exports(ExportSettings().config_file))
