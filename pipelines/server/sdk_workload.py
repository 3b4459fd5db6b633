"""A small workload instrumented with the real `logfire` SDK, sent to any Logfire base URL.

`logfire.configure()` and `logfire.instrument_httpx()` change process-wide state (the global
tracer and meter providers, httpx itself), and a process can only be configured for one
destination at a time. Call `run_sdk_workload` in a process of its own, or use
`run_sdk_workload_in_subprocess`, which does that for you:

    python -m pipelines.server.sdk_workload http://127.0.0.1:8000   # token: $LOGFIRE_TOKEN
"""

import os
import subprocess
import sys

import httpx
import logfire

from pipelines.server.runner import DEFAULT_READ_TOKEN

SERVICE_NAME = "sdk-workload"
# Enough for the SDK's configure, export and flush on a slow CI machine.
SUBPROCESS_TIMEOUT_SECONDS = 120.0


class WorkloadError(RuntimeError):
    """The workload subprocess failed; the message carries its output."""


def run_sdk_workload(
    base_url: str, write_token: str, *, read_token: str = DEFAULT_READ_TOKEN
) -> None:
    """Send spans, nested spans, logs, an exception, an HTTP call and metrics; then flush.

    `read_token` authorises the instrumented GET of the server's own `/v1/schemas`.
    """
    logfire.configure(
        send_to_logfire=True,
        token=write_token,
        service_name=SERVICE_NAME,
        service_version="1.0.0",
        environment="demo",
        console=False,
        inspect_arguments=False,
        advanced=logfire.AdvancedOptions(base_url=base_url),
    )
    logfire.instrument_httpx()
    requests = logfire.metric_counter("workload.requests", unit="{request}")
    latency = logfire.metric_histogram("workload.latency", unit="ms")

    with logfire.span("checkout {order_id}", order_id=1234, _tags=["demo"]):
        with logfire.span("load cart", items=[1, 2, 3]):
            logfire.debug("cart has {count} items", count=3)
        with logfire.span("charge card"):
            logfire.info("charging {amount}", amount=42.5)
            logfire.warn("card {card} expires soon", card="visa")
        try:
            with logfire.span("reserve stock"):
                raise ValueError("no stock for item 3")
        except ValueError:
            logfire.exception("reservation failed")
        logfire.error("order {order_id} failed", order_id=1234)
        with httpx.Client(base_url=base_url) as client:
            client.get("/v1/schemas", headers={"authorization": read_token})
    for value in (12.0, 48.0, 230.0):
        requests.add(1, {"route": "/checkout"})
        latency.record(value, {"route": "/checkout"})
    logfire.force_flush()
    logfire.shutdown()


def run_sdk_workload_in_subprocess(
    base_url: str, write_token: str, *, read_token: str = DEFAULT_READ_TOKEN
) -> None:
    """`run_sdk_workload` in a fresh interpreter, so this process's state stays untouched."""
    # Tokens travel in the environment, not argv, where `ps` would show them.
    env = {**os.environ, "LOGFIRE_TOKEN": write_token, "LOGFIRE_READ_TOKEN": read_token}
    # The child imports this package the way the parent did, whatever the install mode.
    env["PYTHONPATH"] = os.pathsep.join(path for path in sys.path if path)
    command = [sys.executable, "-m", "pipelines.server.sdk_workload", base_url]
    try:
        done = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT_SECONDS
        )
    except subprocess.TimeoutExpired as exc:
        raise WorkloadError(f"the SDK workload against {base_url} timed out") from exc
    if done.returncode != 0:
        output = (done.stderr or done.stdout)[-2000:]
        raise WorkloadError(f"the SDK workload against {base_url} failed:\n{output}")


def main() -> None:
    if len(sys.argv) != 2 or "LOGFIRE_TOKEN" not in os.environ:
        sys.exit("usage: LOGFIRE_TOKEN=<write token> python -m pipelines.server.sdk_workload URL")
    read_token = os.environ.get("LOGFIRE_READ_TOKEN", DEFAULT_READ_TOKEN)
    run_sdk_workload(sys.argv[1], os.environ["LOGFIRE_TOKEN"], read_token=read_token)


if __name__ == "__main__":
    main()
