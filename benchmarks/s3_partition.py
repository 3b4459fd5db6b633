"""Writing one big partition to S3: time, object count and this process's peak memory.

    python -m benchmarks.s3_partition [ROWS]

Starts `moto_server` on a free loopback port, then writes ROWS synthetic records (default
1,000,000) into one hourly partition through the same writer an export uses, in chunks of
10,000 rows as the Query API returns them (each chunk generated when it is written, so the
input is never held whole). On S3 a plain-Parquet partition is one object however many rows
it has; this shows what that costs. Peak memory is this process's (moto, which holds the
bucket, runs in its own process).
"""

import os
import resource
import sys
import time
from datetime import UTC, datetime, timedelta

import pyarrow.parquet as pq

from pipelines.export.spec import parse_exports
from pipelines.server.synthetic import generate_records
from pipelines.storage.partitions import PartitionStore, S3Options
from tests.storage.s3_server import FAKE_CREDENTIALS, moto_server

START = datetime(2026, 12, 1, 13, tzinfo=UTC)
SPEC = parse_exports({"exports": {"records": {"table": "records", "start": "2026-11-01"}}})
PARTITION = [("date", "2026-12-01"), ("hour", "13")]
CHUNK = 10_000


def main(size: int) -> None:
    spec = SPEC.exports["records"]
    chunks = max(1, size // CHUNK)
    step = timedelta(hours=1) / chunks
    os.environ.update(FAKE_CREDENTIALS)
    with moto_server() as endpoint:
        store = PartitionStore("s3://bench/out", s3=S3Options(endpoint_url=endpoint.url))
        store.fs.mkdir("bench")
        store.check_writable()
        started = time.perf_counter()
        with store.writer("records", PARTITION, spec.arrow_schema, sort_by=spec.time_column) as w:
            for index in range(chunks):
                start = START + index * step
                rows = generate_records(CHUNK, start, start + step, seed=index, bursts=0)
                w.write(rows.sort_by(spec.time_column))
            committed = w.commit({"run_id": "bench"})
        seconds = time.perf_counter() - started
        [file] = committed.files
        with store.fs.open(f"{store.partition_path('records', PARTITION)}/{file.name}") as f:
            groups = pq.read_metadata(f).num_row_groups
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{committed.rows} rows -> {len(committed.files)} object of {committed.bytes / 1e6:.1f} MB"
        f" ({groups} row groups) in {seconds:.1f} s, generating included;"
        f" peak RSS of this process {peak_mb:,.0f} MB"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
