from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import DagsterInstance, instance_for_test


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[DagsterInstance]:
    """A real Dagster instance with its storage in the test's own folder."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    with instance_for_test(temp_dir=str(home)) as dagster_instance:
        yield dagster_instance
