"""Bad output roots fail early, naming the root, and leave nothing behind."""

import os
from pathlib import Path
from typing import NoReturn

import pytest
from fsspec.implementations.local import LocalFileSystem

from pipelines.orchestration.resources import ParquetStorageResource
from pipelines.storage import roots
from pipelines.storage.partitions import PartitionStore, S3Options, StorageError
from tests.storage.helpers import PARTITION, SCHEMA
from tests.storage.s3_server import S3Endpoint, clear_s3fs_caches


def test_a_missing_local_root_is_refused_not_created(tmp_path: Path) -> None:
    # A typo, or a disk that is not mounted, must not send the output somewhere else.
    root = str(tmp_path / "out")
    with pytest.raises(StorageError, match=rf"output root '{root}' does not exist; create it"):
        PartitionStore(root).check_writable()
    assert list(tmp_path.iterdir()) == []


def test_the_default_root_is_created_when_its_parent_exists(tmp_path: Path) -> None:
    PartitionStore(str(tmp_path / "out"), create_root=True).check_writable()
    assert [p.name for p in (tmp_path / "out").iterdir()] == []


def test_only_an_unset_root_setting_may_be_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LOGFIRE_EXPORT_STORAGE_ROOT", raising=False)
    assert ParquetStorageResource().store().create_root
    monkeypatch.setenv("LOGFIRE_EXPORT_STORAGE_ROOT", str(tmp_path / "chosen"))
    assert not ParquetStorageResource().store().create_root
    assert not ParquetStorageResource(root=str(tmp_path / "x")).store().create_root


def test_a_local_root_under_a_missing_folder_is_refused(tmp_path: Path) -> None:
    root = str(tmp_path / "missing" / "out")
    with pytest.raises(StorageError, match=f"output root '{root}' does not exist"):
        PartitionStore(root).check_writable()
    assert list(tmp_path.iterdir()) == []


def test_an_unwritable_local_root_is_reported_by_name(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(StorageError, match=r"output root .*/file/root'"):
        PartitionStore(str(blocker / "root")).check_writable()


def test_a_root_that_is_a_file_says_so(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(StorageError, match=r"output root '.*/file' is a file, not a folder"):
        PartitionStore(str(blocker)).check_writable()


def test_unsupported_protocols_are_refused_by_name() -> None:
    with pytest.raises(StorageError, match=r"'gs://bucket/x': gs:// is not supported"):
        PartitionStore("gs://bucket/x")


def test_a_missing_bucket_is_reported_by_name(s3_bucket: str, s3_endpoint: S3Endpoint) -> None:
    store = PartitionStore("s3://no-such-bucket/out", s3=S3Options(s3_endpoint.url))
    with pytest.raises(StorageError, match=r"'s3://no-such-bucket/out' is not writable.*bucket"):
        store.check_writable()


def remove_aws_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"]:
        monkeypatch.delenv(name, raising=False)
    # No shared files and no instance metadata service: nothing left in the chain.
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    clear_s3fs_caches()  # the bucket's fixture made a filesystem with credentials


def test_missing_credentials_are_reported_by_name(
    s3_bucket: str, s3_endpoint: S3Endpoint, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    remove_aws_credentials(monkeypatch, tmp_path)
    store = PartitionStore(f"s3://{s3_bucket}/out", s3=S3Options(s3_endpoint.url))
    with pytest.raises(StorageError, match=f"'s3://{s3_bucket}/out' is not writable.*credentials"):
        store.check_writable()


def test_delta_without_credentials_fails_before_any_row_naming_the_root(
    s3_bucket: str, s3_endpoint: S3Endpoint, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    remove_aws_credentials(monkeypatch, tmp_path)
    root = f"s3://{s3_bucket}/out"
    store = PartitionStore(root, s3=S3Options(s3_endpoint.url))
    expected = f"output root '{root}': no AWS credentials"
    # What a run does before its first query (the asset reads the previous manifest) ...
    with pytest.raises(StorageError, match=expected):
        store.read_manifest("records", PARTITION, format="delta")
    # ... and what opening a writer does, before any row is fetched.
    with pytest.raises(StorageError, match=expected):
        store.writer("records", PARTITION, SCHEMA, format="delta")


def test_delta_gets_the_aws_chain_credentials_and_plain_http_for_an_environment_endpoint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "chain-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "chain-secret")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "chain-token")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-3")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9000")
    for name in ["AWS_ENDPOINT_URL_S3", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"]:
        monkeypatch.delenv(name, raising=False)
    options = PartitionStore("s3://bucket/out").delta_storage_options()
    assert options == {
        "AWS_ACCESS_KEY_ID": "chain-key",
        "AWS_SECRET_ACCESS_KEY": "chain-secret",
        "AWS_SESSION_TOKEN": "chain-token",
        "AWS_REGION": "eu-west-3",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9000",
        "AWS_ALLOW_HTTP": "true",
    }
    configured = S3Options(endpoint_url="https://minio.example", region="us-east-2")
    options = PartitionStore("s3://bucket/out", s3=configured).delta_storage_options()
    assert options is not None and "AWS_ALLOW_HTTP" not in options
    assert (options["AWS_ENDPOINT_URL"], options["AWS_REGION"]) == (
        configured.endpoint_url,
        "us-east-2",
    )
    assert PartitionStore("local-root").delta_storage_options() is None


def test_the_resource_takes_s3_settings_from_the_environment(
    s3_bucket: str, s3_endpoint: S3Endpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOGFIRE_EXPORT_STORAGE_ROOT", f"s3://{s3_bucket}/exports")
    monkeypatch.setenv("LOGFIRE_EXPORT_S3_ENDPOINT_URL", s3_endpoint.url)
    store = ParquetStorageResource().store()
    store.check_writable()
    assert store.partition_uri("records", [("date", "2026-12-01")]) == (
        f"s3://{s3_bucket}/exports/records/date=2026-12-01"
    )
    assert store.fs.ls(s3_bucket) == []  # the probe is gone


def denied(*args: object, **kwargs: object) -> NoReturn:
    raise PermissionError("Access Denied")


@pytest.mark.parametrize(
    ("method", "step"), [("ls", "list it"), ("cat_file", "read a file back from it")]
)
def test_a_root_that_cannot_be_listed_or_read_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, method: str, step: str
) -> None:
    # A commit lists the partition and copies server-side (which reads the staged object).
    fs = LocalFileSystem(skip_instance_cache=True)
    monkeypatch.setattr(fs, method, denied)
    root = str(tmp_path / "out")
    os.mkdir(root)
    with pytest.raises(StorageError, match=f"output root '{root}': could not {step}: Access"):
        roots.check_writable(fs, root, root)
    assert list((tmp_path / "out").iterdir()) == []  # the probe was removed all the same


def test_a_probe_missing_from_the_listing_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fs = LocalFileSystem(skip_instance_cache=True)
    monkeypatch.setattr(fs, "ls", lambda *args, **kwargs: [])
    root = str(tmp_path / "out")
    os.mkdir(root)
    with pytest.raises(StorageError, match=r"the probe .*/out/\.write-probe-\w+ is not in its"):
        roots.check_writable(fs, root, root)


def test_a_delete_refused_without_an_error_is_caught(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # DeleteObjects answers 200 and lists refused keys apart; s3fs passes over them.
    fs = LocalFileSystem(skip_instance_cache=True)
    monkeypatch.setattr(fs, "rm", lambda *args, **kwargs: None)
    root = str(tmp_path / "out")
    os.mkdir(root)
    with pytest.raises(StorageError, match=r"probe .*\.write-probe-\w+ is still there after del"):
        roots.check_writable(fs, root, root)
