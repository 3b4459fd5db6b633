"""Output roots: a local folder or `s3://bucket/prefix`, and the filesystem for each.

S3 goes through s3fs, with credentials from the standard AWS chain (environment variables,
shared config and credentials files or `AWS_PROFILE`, container and instance roles). An
`endpoint_url` points it at an S3-compatible store (MinIO, R2, Ceph).
"""

import contextlib
import os
import secrets
from dataclasses import dataclass

from fsspec import AbstractFileSystem
from fsspec.implementations.local import LocalFileSystem
from fsspec.utils import get_protocol

from pipelines.storage.commit import StorageError

S3_PROTOCOLS = ("s3", "s3a")
LOCAL_PROTOCOLS = ("file", "local")


@dataclass(frozen=True)
class S3Options:
    """How to reach S3; `None` leaves a value to the AWS chain (`AWS_ENDPOINT_URL`, ...)."""

    endpoint_url: str | None = None
    region: str | None = None


def open_root(root: str, s3: S3Options) -> tuple[AbstractFileSystem, str]:
    """The filesystem for `root` and the root's path on it (no protocol, no trailing `/`)."""
    protocol = get_protocol(root)
    fs: AbstractFileSystem
    if protocol in S3_PROTOCOLS:
        # Imported here: s3fs and botocore take about half a second to import.
        import s3fs

        fs = s3fs.S3FileSystem(
            endpoint_url=s3.endpoint_url,
            client_kwargs={"region_name": s3.region} if s3.region else None,
        )
    elif protocol in LOCAL_PROTOCOLS:
        fs = LocalFileSystem()
    else:
        raise StorageError(
            f"output root {root!r}: {protocol}:// is not supported; use a local folder or "
            "s3://bucket/prefix"
        )
    path = str(fs._strip_protocol(root)).rstrip("/")
    if not path or (protocol in S3_PROTOCOLS and path.startswith("/")):
        raise StorageError(f"output root {root!r} names no folder or bucket")
    return fs, path


def check_writable(fs: AbstractFileSystem, root: str, uri: str, *, create: bool = False) -> None:
    """Prove that a partition can be committed under `root`, or fail naming it.

    A commit writes, lists, reads (a server-side copy reads its source) and deletes in bulk,
    so the probe does each once: write an object, find it in the root's listing, read it
    back, delete it and make sure it is gone (s3fs passes over a key that DeleteObjects
    refused). Six requests on S3.

    A local root must exist: a missing folder is more often a typo, or a disk that is not
    mounted (its mount point exists, empty), than a wish. `create` makes one whose parent
    exists (the default `data` root). An S3 root needs its bucket; prefixes need no creating.
    """
    # StorageError: a check below failed, and the probe may need removing.
    errors: tuple[type[Exception], ...] = (OSError, StorageError)
    if not isinstance(fs, LocalFileSystem):
        # Missing credentials are a botocore error, not an OSError.
        from botocore.exceptions import BotoCoreError

        errors = (OSError, StorageError, BotoCoreError)
    token = secrets.token_hex(4)
    probe = f"{root}/.write-probe-{token}"
    shown = f"{uri.rstrip('/')}/.write-probe-{token}"  # as the user spells the root
    step = "write to it"
    try:
        if isinstance(fs, LocalFileSystem) and not os.path.isdir(root):
            parent = os.path.dirname(root)
            if os.path.exists(root):
                raise StorageError(f"output root {uri!r} is a file, not a folder")
            if os.path.exists(parent) and not os.path.isdir(parent):
                raise StorageError(f"output root {uri!r}: {parent} is a file, not a folder")
            if not os.path.isdir(parent):
                raise StorageError(
                    f"output root {uri!r} does not exist, and neither does its parent {parent}"
                )
            if not create:
                raise StorageError(
                    f"output root {uri!r} does not exist; create it (mkdir {root}) or fix the "
                    "root's path"
                )
            os.mkdir(root)
        fs.pipe_file(probe, token.encode())
        step = "list it"
        fs.invalidate_cache(root)
        if probe not in fs.ls(root, detail=False):
            raise StorageError(f"output root {uri!r}: the probe {shown} is not in its listing")
        step = "read a file back from it"
        if fs.cat_file(probe) != token.encode():
            raise StorageError(f"output root {uri!r}: the probe {shown} read back different bytes")
        step = "delete a file from it"
        fs.rm(probe)
        fs.invalidate_cache(probe)
        if fs.exists(probe):
            raise StorageError(
                f"output root {uri!r}: the probe {shown} is still there after deleting it"
            )
    except errors as exc:
        if step != "write to it":
            _remove_quietly(fs, probe)
        if isinstance(exc, StorageError):
            raise
        hint = ""
        if not isinstance(exc, OSError):
            hint = " (S3 credentials come from the AWS chain: environment, profile or role)"
        if step == "write to it":
            raise StorageError(f"output root {uri!r} is not writable: {exc}{hint}") from exc
        raise StorageError(f"output root {uri!r}: could not {step}: {exc}{hint}") from exc


def _remove_quietly(fs: AbstractFileSystem, probe: str) -> None:
    # The root already failed; a probe left behind is harmless (hidden, not `*.parquet`).
    with contextlib.suppress(Exception):
        fs.rm(probe)


def delta_storage_options(fs: AbstractFileSystem, s3: S3Options, uri: str) -> dict[str, str] | None:
    """Options for `deltalake`, which reads S3 itself (not through s3fs).

    delta-rs has its own AWS chain, which does not read `AWS_PROFILE` and the shared files
    the way botocore does: a root that s3fs can write would fail only at the Delta commit,
    after every query of the export. So the credentials are resolved here, through the
    same botocore chain as s3fs, and handed over. They are frozen (a role's temporary
    credentials expire), so call this just before using them, not once per process.
    """
    if isinstance(fs, LocalFileSystem):
        return None
    options: dict[str, str] = {}
    endpoint = s3.endpoint_url or _environment_endpoint()
    if endpoint:
        options["AWS_ENDPOINT_URL"] = endpoint
        if endpoint.startswith("http://"):
            # A local MinIO or test endpoint; delta-rs refuses plain HTTP unless told.
            options["AWS_ALLOW_HTTP"] = "true"
    return options | _aws_chain_options(s3, uri)


def _environment_endpoint() -> str | None:
    """The endpoint botocore takes from the environment (the S3-specific one first)."""
    if os.environ.get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "").lower() == "true":
        return None
    return os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or None


def _aws_chain_options(s3: S3Options, uri: str) -> dict[str, str]:
    """Credentials and region from botocore's chain, as deltalake storage options."""
    import botocore.session
    from botocore.exceptions import BotoCoreError

    hint = "S3 credentials come from the AWS chain: environment, profile or role"
    try:
        session = botocore.session.Session()
        credentials = session.get_credentials()
        frozen = credentials.get_frozen_credentials() if credentials is not None else None
        region = s3.region or session.get_config_variable("region")
    except BotoCoreError as exc:
        # botocore's messages name a profile or a file, never a key.
        raise StorageError(
            f"output root {uri!r}: no usable AWS credentials: {exc} ({hint})"
        ) from exc
    if frozen is None or not frozen.access_key or not frozen.secret_key:
        raise StorageError(f"output root {uri!r}: no AWS credentials found for Delta ({hint})")
    options = {
        "AWS_ACCESS_KEY_ID": frozen.access_key,
        "AWS_SECRET_ACCESS_KEY": frozen.secret_key,
    }
    if frozen.token:
        options["AWS_SESSION_TOKEN"] = frozen.token
    if region:
        options["AWS_REGION"] = str(region)
    return options
