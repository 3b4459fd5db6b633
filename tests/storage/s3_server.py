"""A real S3 endpoint for tests: `moto_server` in its own process on a free loopback port."""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import s3fs

# moto accepts any credentials; these only have to be present for the AWS chain to find.
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}
# How long moto may take to start listening on a slow CI machine.
STARTUP_DEADLINE_S = 60.0


@dataclass(frozen=True)
class S3Endpoint:
    url: str
    process: subprocess.Popen[bytes]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


@contextmanager
def moto_server() -> Iterator[S3Endpoint]:
    """Start `moto_server`, wait until it accepts connections, and stop it afterwards."""
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env={**os.environ, **FAKE_CREDENTIALS},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + STARTUP_DEADLINE_S
        while not _listening(port):
            if process.poll() is not None:
                raise RuntimeError(f"moto_server exited with {process.returncode} on start")
            if time.monotonic() > deadline:
                raise RuntimeError(f"moto_server did not listen on port {port}")
            time.sleep(0.05)
        yield S3Endpoint(f"http://127.0.0.1:{port}", process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def clear_s3fs_caches() -> None:
    # s3fs keeps one filesystem per set of arguments, each with a cache of listings: a test
    # must not see another test's (or its own earlier) view of a bucket.
    for instance in list(s3fs.S3FileSystem._cache.values()):
        instance.invalidate_cache()
    s3fs.S3FileSystem.clear_instance_cache()
