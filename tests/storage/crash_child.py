"""The process the crash tests kill: it writes one partition and SIGKILLs itself at a step.

    python -m tests.storage.crash_child ROOT FORMAT STEP [--endpoint URL] [--two-renames]

STEP is a step that `pipelines.storage.commit.reached` marks, or one of the two this script
marks itself: `writing` (half-way through the rows, with files closed and one open) and
`in-delta-write` (inside `write_deltalake`, as soon as its first data file exists).
"""

import argparse
import os
import signal
import threading
import time

from pipelines.storage import commit, exchange
from pipelines.storage.files import ParquetFileSpec
from pipelines.storage.partitions import PartitionStore, S3Options
from tests.storage.helpers import EXPORT, PARTITION, SCHEMA, rows

CHILD_VERSION, CHILD_ROWS = "v2", 250
# Small files and row groups: 250 rows make several groups, and three files on local disk
# (S3 partitions are always one file).
FILE_SPEC = ParquetFileSpec(row_group_rows=40, max_rows_per_file=100)


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def die_at_first_delta_file(store: PartitionStore) -> None:
    """Kill the process once `write_deltalake` has put a data file in the partition."""
    folder = f"{store.root}/{EXPORT}/" + "/".join(f"{k}={v}" for k, v in PARTITION)

    def files() -> set[str]:
        store.fs.invalidate_cache()
        return set(store.fs.find(folder)) if store.fs.exists(folder) else set()

    before = files()

    def watch() -> None:
        while not files() - before:
            time.sleep(0.001)
        die()

    threading.Thread(target=watch, daemon=True).start()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("root")
    parser.add_argument("format", choices=["parquet", "delta"])
    parser.add_argument("step")
    parser.add_argument("--endpoint")
    parser.add_argument("--two-renames", action="store_true", help="no atomic folder exchange")
    args = parser.parse_args()
    exchange.enabled = not args.two_renames
    store = PartitionStore(args.root, file_spec=FILE_SPEC, s3=S3Options(args.endpoint))

    def on_step(step: str) -> None:
        if step == args.step:
            die()
        if step == "staged" and args.step == "in-delta-write":
            die_at_first_delta_file(store)

    commit.step_hook = on_step
    with store.writer(EXPORT, PARTITION, SCHEMA, format=args.format, sort_by="ts") as writer:
        for start in range(0, CHILD_ROWS, 50):
            writer.write(rows(CHILD_VERSION, 50, start))
            if args.step == "writing" and start >= CHILD_ROWS // 2:
                die()
        writer.commit({"run_id": CHILD_VERSION, "partition": dict(PARTITION)})
    raise SystemExit(f"the child reached no step named {args.step!r}")


if __name__ == "__main__":
    main()
