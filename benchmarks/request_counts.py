"""Requests and throughput per partition against the local server.

    python benchmarks/request_counts.py [ROWS ...]

For each size, one hour of synthetic records (no bursts, so the steady state) is loaded into
a fresh local server and exported once; the script prints the requests the client counted
next to the bound ceil(R / 10,000) + 2, and the rows per second of the whole export.
"""

import math
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta

from pipelines.export.runner import PartitionExporter
from pipelines.export.spec import parse_exports
from pipelines.export.window import TimeWindow
from pipelines.query_api import MAX_ROW_LIMIT, QueryClient
from pipelines.server.runner import LocalLogfireServer
from pipelines.server.synthetic import generate_records
from pipelines.storage.partitions import PartitionStore

START = datetime(2026, 12, 1, 13, tzinfo=UTC)
WINDOW = TimeWindow(START, START + timedelta(hours=1))
SPEC = parse_exports({"exports": {"records": {"table": "records", "start": "2026-11-01"}}})


def main(sizes: list[int]) -> None:
    print(f"{'rows':>9} {'requests':>8} {'bound':>5} {'chunks':>6} {'seconds':>7} {'rows/s':>8}")
    with LocalLogfireServer() as server:
        for size in sizes:
            server.reset()
            if size:
                rows = generate_records(size, WINDOW.start, WINDOW.end, seed=size, bursts=0)
                server.store.append("records", rows)
            with (
                tempfile.TemporaryDirectory() as out,
                QueryClient(server.read_token, base_url=server.base_url) as client,
            ):
                exporter = PartitionExporter(client, PartitionStore(out))
                started = time.perf_counter()
                result = exporter.export(SPEC.exports["records"], WINDOW, run_id="bench")
                seconds = time.perf_counter() - started
            bound = math.ceil(result.rows / MAX_ROW_LIMIT) + 2
            print(
                f"{result.rows:>9} {result.requests:>8} {bound:>5} {result.chunks:>6} "
                f"{seconds:>7.2f} {result.rows / seconds:>8.0f}"
            )


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [0, 500, 9_999, 10_000, 25_000, 100_000, 300_000])
