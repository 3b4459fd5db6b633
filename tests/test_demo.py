"""The demo, the README's first command, run the way a user runs it twice in a row."""

from pathlib import Path

import pytest

from pipelines import demo

PROJECT = Path(__file__).resolve().parents[1]


def test_the_demo_can_be_run_again_into_the_same_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(PROJECT)  # config/exports.yaml and config/dagster.yaml, as documented
    monkeypatch.setenv("LOGFIRE_READ_TOKEN", "set by the demo; restored after the test")
    monkeypatch.setattr(demo, "SYNTHETIC_RECORDS", 6_000)
    monkeypatch.setattr(demo, "SYNTHETIC_METRICS", 600)
    out, home, server = tmp_path / "data", tmp_path / "home", tmp_path / "server"
    out.mkdir()
    assert demo.run_demo(out, home, server).ok
    # Each demo makes new rows: the second has fewer per hour than the first exported.
    monkeypatch.setattr(demo, "SYNTHETIC_RECORDS", 3_000)
    again = demo.run_demo(out, home, server)
    assert again.ok, [row.error for row in again.rows if row.error]
