"""Delta on S3: the time to commit a big partition, and to look up many partitions' records.

    python -m benchmarks.delta_partitions [ROWS] [COMMITS]

Starts `moto_server` on a free loopback port, writes ROWS synthetic records (default
1,000,000) into one hourly partition of a Delta table (timing the commit step alone: the
spooled files are copied into the table and added to its log), then makes COMMITS (default
120) small partition commits and times reading the commit records of the last 48 hours in
one call, as the reconciliation sensor does.
"""

import os
import sys
import time
from datetime import UTC, datetime, timedelta

from pipelines.export.spec import parse_exports
from pipelines.server.synthetic import generate_records
from pipelines.storage import commit
from pipelines.storage.partitions import PartitionStore, S3Options
from tests.storage.s3_server import FAKE_CREDENTIALS, moto_server

START = datetime(2026, 12, 1, 0, tzinfo=UTC)
SPEC = parse_exports({"exports": {"records": {"table": "records", "start": "2026-11-01"}}})
CHUNK = 10_000


def hour(index: int) -> list[tuple[str, str]]:
    moment = START + timedelta(hours=index)
    return [("date", moment.strftime("%Y-%m-%d")), ("hour", moment.strftime("%H"))]


def write(store: PartitionStore, index: int, rows: int) -> float:
    """Write one partition; returns the seconds its commit took (after the spool closed)."""
    spec = SPEC.exports["records"]
    partition = hour(index)
    marks: dict[str, float] = {}

    def mark(step: str) -> None:
        marks.setdefault(step, time.perf_counter())

    commit.step_hook = mark
    start = START + timedelta(hours=index)
    with store.writer(
        "records", partition, spec.arrow_schema, format="delta", sort_by=spec.time_column
    ) as writer:
        for offset in range(0, rows, CHUNK):
            size = min(CHUNK, rows - offset)
            table = generate_records(size, start, start + timedelta(hours=1), seed=offset)
            writer.write(table.sort_by(spec.time_column))
        writer.commit({"run_id": "bench", "partition": dict(partition)})
    commit.step_hook = None
    return time.perf_counter() - marks["staged"]


def main(rows: int, commits: int) -> None:
    os.environ.update(FAKE_CREDENTIALS)
    with moto_server() as endpoint:
        store = PartitionStore("s3://bench/out", s3=S3Options(endpoint_url=endpoint.url))
        store.fs.mkdir("bench")
        store.check_writable()
        seconds = write(store, 0, rows)
        print(f"commit of one {rows:,}-row partition: {seconds:.2f} s")
        for index in range(1, commits):
            write(store, index % 72, 100)  # re-exports too, as reconciliation makes them
        partitions = [hour(index) for index in range(48)]
        started = time.perf_counter()
        records = store.read_manifests("records", partitions, format="delta")
        seconds = time.perf_counter() - started
        found = sum(record is not None for record in records)
        print(f"{found} of 48 commit records read over {commits} commits: {seconds:.2f} s")


if __name__ == "__main__":
    arguments = [int(a) for a in sys.argv[1:]]
    main(*(arguments + [1_000_000, 120][len(arguments) :]))
