"""Storage fixtures: stores on disk or in a fresh bucket of the moto S3 endpoint."""

from collections.abc import Callable
from pathlib import Path

import pytest

from pipelines.storage.files import ParquetFileSpec
from pipelines.storage.partitions import PartitionStore, S3Options
from tests.storage.s3_server import S3Endpoint

StoreFactory = Callable[..., PartitionStore]


@pytest.fixture(params=["local", "s3"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_store(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> StoreFactory:
    """Stores on the parametrized backend: `tmp_path`, or a fresh bucket on moto."""
    if backend == "s3":
        bucket: str = request.getfixturevalue("s3_bucket")
        endpoint: S3Endpoint = request.getfixturevalue("s3_endpoint")
        root = f"s3://{bucket}/out"
        options = S3Options(endpoint_url=endpoint.url)
    else:
        (tmp_path / "out").mkdir()
        root, options = str(tmp_path / "out"), S3Options()

    def make(file_spec: ParquetFileSpec | None = None) -> PartitionStore:
        store = PartitionStore(root, file_spec=file_spec, s3=options)
        store.check_writable()
        return store

    return make
