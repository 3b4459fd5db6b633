"""`failure_message` picks, from the chain Dagster records, the message a user should read.

Real runs, so the chain is the one Dagster builds: its `DagsterExecutionStepExecutionError`
wrapping what the asset raised, and that exception's own causes beneath.
"""

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from botocore.exceptions import NoCredentialsError
from dagster import DagsterInstance, asset, materialize

from pipelines.export.runner import ExportError
from pipelines.export.window import TimeWindow
from pipelines.orchestration.local_runs import failure_message
from pipelines.query_api import QueryFailedError
from pipelines.storage.partitions import StorageError

WINDOW = TimeWindow(datetime(2026, 12, 1, 13, tzinfo=UTC), datetime(2026, 12, 1, 14, tzinfo=UTC))


def query_failed_in_export() -> None:
    try:
        raise QueryFailedError("400: column bogus not found", status_code=400)
    except QueryFailedError as exc:
        raise ExportError("records", WINDOW, str(exc)) from exc


def storage_error_around_a_library_error() -> None:
    try:
        raise NoCredentialsError()
    except NoCredentialsError as exc:
        raise StorageError(f"output root 's3://b/x' is not writable: {exc}") from exc


def storage_error_raised_while_handling() -> None:
    try:
        raise FileNotFoundError("no such file")
    except FileNotFoundError:
        raise StorageError("could not stage partition /x/date=2026-12-01")  # noqa: B904


def library_error_around_ours() -> None:
    try:
        raise StorageError("output root '/x' is not writable: disk full")
    except StorageError as exc:
        raise ValueError("a callback failed") from exc


def library_error_alone() -> None:
    raise NoCredentialsError()


def our_error_without_text() -> None:
    raise StorageError()


@pytest.mark.parametrize(
    ("fail", "expected"),
    [
        # Ours wraps ours: the outer one has the context (the export and the window).
        (query_failed_in_export, "export 'records', window [2026-12-01T13:00:00.000000Z"),
        (storage_error_around_a_library_error, "output root 's3://b/x' is not writable"),
        (storage_error_raised_while_handling, "could not stage partition /x/date=2026-12-01"),
        # A library's wrapper says less than what it wraps.
        (library_error_around_ours, "output root '/x' is not writable: disk full"),
        # No message of ours: the library's, with its class to say whose it is.
        (library_error_alone, "botocore.exceptions.NoCredentialsError: Unable to locate"),
        (our_error_without_text, "pipelines.storage.commit.StorageError"),
    ],
)
def test_the_first_of_our_own_messages_wins(
    fail: Callable[[], None], expected: str, instance: DagsterInstance
) -> None:
    @asset
    def records() -> None:
        fail()

    result = materialize([records], instance=instance, raise_on_error=False)
    message = failure_message(result)
    assert message.startswith(expected), message
    assert "Error occurred while executing" not in message


def test_dagsters_own_error_is_shown_as_dagster_words_it(instance: DagsterInstance) -> None:
    @asset
    def records() -> int:
        return "not an int"  # type: ignore[return-value]  # the point: Dagster's type check

    result = materialize([records], instance=instance, raise_on_error=False)
    assert failure_message(result).startswith(
        "dagster._core.errors.DagsterTypeCheckDidNotPass: Type check failed"
    )
