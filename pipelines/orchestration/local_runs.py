"""Running export partitions in this process, recorded in a Dagster instance.

The demo and `logfire-export backfill` use this: each partition is a real Dagster run of
the export's job, so it shows in the UI (`dagster dev`) like a run launched from there.
"""

import os
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path

from dagster import DagsterInstance, Definitions, ExecuteInProcessResult, IntMetadataValue
from dagster_shared.error import SerializableErrorInfo

# A folder in the working directory, so that `dagster dev` run there can find the runs.
DEFAULT_DAGSTER_HOME = Path(".dagster_home")
DAGSTER_INSTANCE_TEMPLATE = Path("config/dagster.yaml")

# Exceptions defined in this project: their qualified names start with the package's.
PROJECT_PACKAGE = __name__.split(".", 1)[0] + "."
DAGSTER_PACKAGES = ("dagster.", "dagster_shared.")


def job_name(export: str) -> str:
    return f"{export}_job"


def materialize_partition(
    defs: Definitions,
    export: str,
    partition_key: str,
    instance: DagsterInstance,
    *,
    log_level: str = "INFO",
    tags: Mapping[str, str] | None = None,
) -> ExecuteInProcessResult:
    """Run one partition of one export; failures are in the result, not raised.

    `log_level` only quiets the console; the instance's event log keeps everything.
    """
    job = defs.resolve_job_def(job_name(export))
    return job.execute_in_process(
        partition_key=partition_key,
        instance=instance,
        raise_on_error=False,
        run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
        tags=dict(tags or {}),
    )


def materialized_int(result: ExecuteInProcessResult, export: str, key: str) -> int:
    """An integer entry (`rows`, `files`, ...) of a successful run's materialization."""
    [materialization] = result.asset_materializations_for_node(export)
    value = materialization.metadata[key]
    if not isinstance(value, IntMetadataValue) or value.value is None:
        raise TypeError(f"the materialization of {export!r} has no integer {key!r} entry")
    return value.value


def failure_message(result: ExecuteInProcessResult) -> str:
    """The first error of a failed run, as the user should read it (no traceback)."""
    for event in result.all_events:
        if event.is_step_failure or event.is_run_failure:
            error = getattr(event.event_specific_data, "error", None)
            if isinstance(error, SerializableErrorInfo):
                return error_message(error)
    return "the run failed; see its logs in the Dagster UI"


def error_message(error: SerializableErrorInfo) -> str:
    """The most useful message in an error's chain of causes.

    Dagster wraps what the asset raised (`DagsterExecutionStepExecutionError`, "Error occurred
    while executing op ...") with that exception as the cause, and ours often wrap a library's
    (`StorageError` around botocore's `NoSuchBucket`). The first of our own exceptions says
    what failed and where (the root, the export, the window), which the raw cause beneath it
    does not; it is shown without its class name. Failing that, the first exception that is
    not Dagster's, with its class name, which a library's bare message needs ("Unable to
    locate credentials" alone does not say it is botocore talking).
    """
    chain = [error, *iter_causes(error)]
    for link in chain:
        name, text = _split_message(link)
        if name.startswith(PROJECT_PACKAGE):
            return text or name
    for link in chain:
        name, _ = _split_message(link)
        if not name.startswith(DAGSTER_PACKAGES):
            return link.message.strip()
    return error.message.strip()


def _split_message(error: SerializableErrorInfo) -> tuple[str, str]:
    """(qualified class name, text) of one error: Dagster keeps the line Python prints,
    `module.Class: text` (`format_exception_only`), and only the bare class name besides."""
    message = error.message.strip()
    name, separator, text = message.partition(": ")
    if not separator and error.cls_name and message.endswith(error.cls_name):
        return message, ""  # an exception without a message
    if not error.cls_name or not name.endswith(error.cls_name):
        return "", message
    return name, text.strip()


def iter_causes(error: SerializableErrorInfo) -> Iterator[SerializableErrorInfo]:
    """The errors beneath `error`: each one's explicit cause (`raise ... from`), else the
    exception it was raised while handling."""
    below = error.cause or error.context
    while below is not None:
        yield below
        below = below.cause or below.context


def prepare_dagster_home(dagster_home: Path) -> DagsterInstance:
    """A persistent instance in `dagster_home`, set up from `config/dagster.yaml` once."""
    dagster_home = dagster_home.resolve()
    dagster_home.mkdir(parents=True, exist_ok=True)
    instance_file = dagster_home / "dagster.yaml"
    if not instance_file.exists():
        if DAGSTER_INSTANCE_TEMPLATE.exists():
            shutil.copyfile(DAGSTER_INSTANCE_TEMPLATE, instance_file)
        else:
            # Outside the project root: Dagster's defaults, said explicitly (no warning).
            instance_file.write_text("telemetry:\n  enabled: false\n")
    os.environ["DAGSTER_HOME"] = str(dagster_home)
    return DagsterInstance.get()
