"""`logfire-export serve` wires its options into the server (without blocking on it)."""

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from pipelines import cli
from pipelines.server.store import TelemetryStore


def test_serve_passes_options_and_preloads_synthetic_rows(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    calls: list[dict[str, Any]] = []

    def fake_serve(host: str, port: int, **options: Any) -> None:
        calls.append({"host": host, "port": port, **options})

    monkeypatch.setattr(cli, "serve", fake_serve)
    result = CliRunner().invoke(
        cli.app,
        ["serve", "--port", "9123", "--data", str(tmp_path), "--synthetic-rows", "50",
         "--read-token", "pylf_v1_us_custom", "--write-token", "pylf_v1_us_customw"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "pylf_v1_us_custom" not in result.output
    [call] = calls
    assert (call["host"], call["port"], call["read_token"]) == ("127.0.0.1", 9123,
                                                                "pylf_v1_us_custom")  # fmt: skip
    store: TelemetryStore = call["store"]
    assert store.row_count("records") == 50
    assert TelemetryStore(tmp_path).row_count("records") == 50


def test_serve_help() -> None:
    result = CliRunner().invoke(cli.app, ["serve", "--help"])
    assert result.exit_code == 0
    assert "--synthetic-rows" in result.output
