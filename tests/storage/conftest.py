"""Storage fixtures: a moto S3 endpoint (a separate process) and stores on it or on disk."""

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import s3fs

from pipelines.storage.files import ParquetFileSpec
from pipelines.storage.partitions import PartitionStore, S3Options
from tests.storage.s3_server import FAKE_CREDENTIALS, S3Endpoint

StoreFactory = Callable[..., PartitionStore]


def clear_s3fs_caches() -> None:
    # s3fs keeps one filesystem per set of arguments, each with a cache of listings: a test
    # must not see another test's (or its own earlier) view of a bucket.
    for instance in list(s3fs.S3FileSystem._cache.values()):
        instance.invalidate_cache()
    s3fs.S3FileSystem.clear_instance_cache()


@pytest.fixture
def s3_bucket(s3_endpoint: S3Endpoint, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A new, empty bucket on the moto endpoint, with fake credentials in the environment."""
    for name, value in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    clear_s3fs_caches()
    bucket = f"test-{secrets.token_hex(6)}"
    s3fs.S3FileSystem(endpoint_url=s3_endpoint.url).mkdir(bucket)
    yield bucket
    clear_s3fs_caches()


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
