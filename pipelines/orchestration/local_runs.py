"""Running export partitions in this process, recorded in a Dagster instance.

The demo and `logfire-export backfill` use this: each partition is a real Dagster run of
the export's job, so it shows in the UI (`dagster dev`) like a run launched from there.
"""

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from dagster import DagsterInstance, Definitions, ExecuteInProcessResult

# A folder in the working directory, so that `dagster dev` run there can find the runs.
DEFAULT_DAGSTER_HOME = Path(".dagster_home")
DAGSTER_INSTANCE_TEMPLATE = Path("config/dagster.yaml")


def job_name(export: str) -> str:
    return f"{export}_job"


def materialize_partition(
    defs: Definitions,
    export: str,
    partition_key: str,
    instance: DagsterInstance,
    *,
    log_level: str = "INFO",
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
    )


def failure_message(result: ExecuteInProcessResult) -> str:
    """The first error of a failed run, as the user should read it (no traceback)."""
    for event in result.all_events:
        if event.is_step_failure or event.is_run_failure:
            error = getattr(event.event_specific_data, "error", None)
            if error is not None:
                # Dagster wraps the asset's exception; its cause holds the export's message.
                causes = [error, *iter_causes(error)]
                return str(causes[-1].message).strip()
    return "the run failed; see its logs in the Dagster UI"


def iter_causes(error: object) -> Iterator[object]:
    cause = getattr(error, "cause", None)
    while cause is not None:
        yield cause
        cause = getattr(cause, "cause", None)


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
