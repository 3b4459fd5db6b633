"""Running export partitions in this process, recorded in a Dagster instance.

The demo and `logfire-export backfill` use this: each partition is a real Dagster run of
the export's job, so it shows in the UI (`dagster dev`) like a run launched from there.
"""

import os
import shutil
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
