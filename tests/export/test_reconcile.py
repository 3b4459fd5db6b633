"""Reconciliation's view of recent partitions: one grouped count query per day."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

from pipelines.export.reconcile import partition_states, settled_windows
from pipelines.export.runner import PartitionExporter
from pipelines.export.spec import ExportSpec, parse_exports
from pipelines.export.window import TimeWindow
from pipelines.query_api import QueryClient
from pipelines.server.runner import LocalLogfireServer
from pipelines.server.synthetic import records_at
from pipelines.storage.partitions import PartitionStore

NOW = datetime(2026, 11, 22, 1, 30, tzinfo=UTC)
HOUR = timedelta(hours=1)


def spec(**fields: object) -> ExportSpec:
    document = {"exports": {"records": {"table": "records", "start": "2026-11-01", **fields}}}
    return parse_exports(document).exports["records"]


def test_settled_windows_cover_the_lookback_and_stop_at_the_settle_delay() -> None:
    windows = settled_windows(spec(), NOW, lookback_days=2)
    assert windows[0].start == datetime(2026, 11, 20, 2, tzinfo=UTC)
    # 00:00-01:00 ended 30 minutes ago: still inside its 1 hour settle delay.
    assert windows[-1].end == datetime(2026, 11, 22, 0, tzinfo=UTC)
    assert len(windows) == 46


def test_counts_take_one_query_per_day_and_find_drift(
    server: LocalLogfireServer, client: QueryClient, tmp_path: Path
) -> None:
    hour = datetime(2026, 11, 21, 5, tzinfo=UTC)
    records = spec()
    store = PartitionStore(str(tmp_path))
    server.store.append("records", records_at([hour + timedelta(minutes=m) for m in range(10)]))
    PartitionExporter(client, store).export(records, TimeWindow(hour, hour + HOUR), run_id="a")
    # Two rows arrive late for 05:00; one for 07:00, which was never exported.
    server.store.append(
        "records",
        records_at([hour + timedelta(minutes=30), hour + 2 * HOUR, hour], seed=9),
    )
    server.query_log.clear()

    states = {s.window.start: s for s in partition_states(client, store, records, NOW, 2)}
    assert len(server.query_log) == 2  # 2026-11-20 and -21: one grouped query per day
    assert states[hour].exported_rows == 10 and states[hour].server_rows == 12
    assert states[hour].drifted and states[hour].missing_rows == 2
    assert states[hour].needs_export
    assert states[hour + 2 * HOUR].exported_rows is None
    assert states[hour + 2 * HOUR].drifted
    untouched = [s for start, s in states.items() if start not in (hour, hour + 2 * HOUR)]
    assert untouched and not any(s.drifted for s in untouched)


def test_fewer_rows_on_the_server_need_a_re_export_only_if_the_query_changed(
    server: LocalLogfireServer, client: QueryClient, tmp_path: Path
) -> None:
    hour = datetime(2026, 11, 21, 5, tzinfo=UTC)
    store = PartitionStore(str(tmp_path))
    server.store.append("records", records_at([hour + timedelta(minutes=m) for m in range(10)]))
    PartitionExporter(client, store).export(spec(), TimeWindow(hour, hour + HOUR), run_id="a")
    server.reset()  # the rows are gone from the server
    server.store.append("records", records_at([hour + timedelta(minutes=1)]))

    [same] = [s for s in partition_states(client, store, spec(), NOW, 2) if s.window.start == hour]
    # Drifted, but a re-export would be refused (the archive keeps its rows): none asked for.
    assert same.drifted and same.missing_rows == -9 and not same.needs_export

    narrower = spec(where="is_exception")
    [changed] = [
        s for s in partition_states(client, store, narrower, NOW, 2) if s.window.start == hour
    ]
    assert changed.drifted and not changed.same_query and changed.needs_export


def test_a_delta_export_is_read_back_through_its_own_manifest(
    server: LocalLogfireServer, client: QueryClient, tmp_path: Path
) -> None:
    hour = datetime(2026, 11, 21, 5, tzinfo=UTC)
    delta = spec(format="delta")
    store = PartitionStore(str(tmp_path))
    server.store.append("records", records_at([hour + timedelta(minutes=5)] * 3))
    PartitionExporter(client, store).export(delta, TimeWindow(hour, hour + HOUR), run_id="d")
    states = {s.window.start: s for s in partition_states(client, store, delta, NOW, 2)}
    assert states[hour].exported_rows == 3 and not states[hour].drifted
