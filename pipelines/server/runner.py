"""Running the local Logfire server: in a background thread for tests, or blocking for the CLI.

    with LocalLogfireServer() as server:
        client = LogfireQueryClient(server.read_token, base_url=server.base_url)

The default tokens are fixed so that a demo, a shell and a test agree without configuration.
They are public (they are written here), so the server binds to 127.0.0.1 unless told
otherwise and must never hold data that needs protecting.
"""

import logging
import socket
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Self

import httpx
import uvicorn

from pipelines.server.app import create_app
from pipelines.server.faults import Faults
from pipelines.server.query_endpoints import QueryLog
from pipelines.server.store import TelemetryStore

logger = logging.getLogger(__name__)

# Shaped like real tokens (`pylf_v1_<region>_...`) so region parsing in clients sees `us`.
DEFAULT_READ_TOKEN = "pylf_v1_us_LocalReadToken0000000000000000000000000000"
DEFAULT_WRITE_TOKEN = "pylf_v1_us_LocalWriteToken000000000000000000000000000"

# How long `start()` waits for uvicorn to answer before giving up.
STARTUP_TIMEOUT_SECONDS = 10.0


class ServerStartError(RuntimeError):
    """The background server did not come up."""


class LocalLogfireServer:
    """A Logfire-compatible server on 127.0.0.1 in a background thread (a context manager)."""

    def __init__(
        self,
        store: TelemetryStore | None = None,
        *,
        port: int = 0,
        host: str = "127.0.0.1",
        data_dir: Path | None = None,
        clock: Callable[[], datetime] | None = None,
        read_token: str = DEFAULT_READ_TOKEN,
        write_token: str = DEFAULT_WRITE_TOKEN,
    ) -> None:
        if store is not None and (data_dir is not None or clock is not None):
            raise ValueError("pass either a store or data_dir/clock to build one, not both")
        self.store = store or TelemetryStore(data_dir, clock)
        self.read_token = read_token
        self.write_token = write_token
        self.faults = Faults()
        self.app = create_app(
            self.store, read_token=read_token, write_token=write_token, faults=self.faults
        )
        self.query_log: QueryLog = self.app.state.query_log
        self._host = host
        self._port = port
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port: int | None = None

    @property
    def base_url(self) -> str:
        if self.port is None:
            raise ServerStartError("the server is not running; use it as a context manager")
        return f"http://{self._host}:{self.port}"

    def reset(self, store: TelemetryStore | None = None) -> None:
        """Start afresh without restarting: a new (or the given) store, no faults, no log."""
        self.store = store or TelemetryStore(clock=self.store.clock)
        self.app.state.store = self.store
        self.faults.clear()
        self.query_log.clear()

    def start(self) -> None:
        # Binding here (not in uvicorn) makes port 0 usable: the OS picks, we read it back.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self._host, self._port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self.app, log_level="warning", lifespan="off", ws="none")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="local-logfire", daemon=True
        )
        self._thread.start()
        self._wait_until_ready()

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=STARTUP_TIMEOUT_SECONDS)
        self._server = self._thread = None
        self.port = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        url = f"{self.base_url}/v1/read-token-info"
        while time.monotonic() < deadline:
            if self._thread is not None and not self._thread.is_alive():
                break
            if self._server is not None and not self._server.started:
                time.sleep(0.005)
                continue
            try:
                if httpx.get(url, headers={"authorization": self.read_token}).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.01)
        address = f"{self._host}:{self.port}"
        self.stop()
        raise ServerStartError(f"the local Logfire server on {address} did not start")


def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    data_dir: Path | None = None,
    *,
    read_token: str = DEFAULT_READ_TOKEN,
    write_token: str = DEFAULT_WRITE_TOKEN,
    store: TelemetryStore | None = None,
) -> None:
    """Serve in the foreground until interrupted (Ctrl-C)."""
    store = store or TelemetryStore(data_dir)
    app = create_app(store, read_token=read_token, write_token=write_token)
    logger.info("local Logfire server on http://%s:%s (data: %s)", host, port, data_dir or "memory")
    uvicorn.run(app, host=host, port=port, log_level="info", ws="none")
