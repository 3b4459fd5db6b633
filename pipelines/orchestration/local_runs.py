"""Running export partitions in this process, recorded in a Dagster instance.

The demo and `logfire-export backfill` use this: each partition is a real Dagster run of
the export's job, so it shows in the UI (`dagster dev`) like a run launched from there.
"""

from dagster import DagsterInstance, Definitions, ExecuteInProcessResult


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
