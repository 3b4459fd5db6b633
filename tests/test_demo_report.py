"""The demo's closing hints: the read-back command it prints works as printed."""

import re
import subprocess
import sys
from pathlib import Path

from pipelines.demo import DemoReport
from pipelines.demo_report import demo_epilogue
from pipelines.storage.partitions import PartitionStore
from tests.storage.helpers import write_partition


def test_the_printed_polars_command_reads_the_partitions_as_strings(tmp_path: Path) -> None:
    out = tmp_path / "data"
    write_partition(PartitionStore(str(out)), "v1", 7)
    report = DemoReport([], out, tmp_path / "home", tmp_path / "server", records_sent=0)
    [code] = re.findall(r'python -c "(.+)"', demo_epilogue(report))
    printed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    # One group of 7 rows, keyed by the partition's string values (not a date and an i64).
    assert re.search(r"│ str\s+┆ str\s+┆ u32", printed), printed
    assert re.search(r"2026-12-01\s+┆ 13\s+┆ 7", printed), printed
