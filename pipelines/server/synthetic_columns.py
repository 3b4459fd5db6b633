"""Vectorised building blocks shared by the synthetic `records` and `metrics` generators.

Everything here works on whole numpy / Arrow arrays: a million rows never meet a Python loop.
"""

from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.schemas import table_definition

U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]

# The local server's one project; OTLP ingestion and the generators both stamp it on rows.
LOCAL_PROJECT_ID = "7f3c2a1e-5b6d-4e8f-9a0b-1c2d3e4f5a6b"

TIMESTAMP = pa.timestamp("us", tz="UTC")

_HEX_DIGITS = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)

# Realistic service names; generators needing more append numbered ones.
_SERVICE_NAMES = (
    "api-gateway",
    "checkout",
    "payments",
    "inventory",
    "search",
    "recommendations",
    "auth",
    "notifications",
    "shipping",
    "catalog",
    "billing",
    "web-frontend",
    "orders",
    "pricing",
    "reviews",
    "media",
)
_ENVIRONMENTS = ("prod", "staging", None)
_ENVIRONMENT_WEIGHTS = (0.7, 0.25, 0.05)


def mix64(values: U64) -> U64:
    """SplitMix64's finaliser: a bijection, so distinct inputs give distinct random-looking ids."""
    x = values + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def hex_ids(*words: U64) -> pa.Array:
    """Lowercase hex strings, 16 characters per 64-bit word, built without per-row Python."""
    count = len(words[0])
    pieces = []
    for word in words:
        octets = word.astype(">u8").view(np.uint8).reshape(count, 8)
        nibbles = np.empty((count, 16), dtype=np.uint8)
        nibbles[:, 0::2] = octets >> 4
        nibbles[:, 1::2] = octets & 15
        pieces.append(_HEX_DIGITS[nibbles])
    chars = np.ascontiguousarray(np.concatenate(pieces, axis=1))
    width = chars.shape[1]
    offsets = np.arange(0, (count + 1) * width, width, dtype=np.int32)
    return pa.StringArray.from_buffers(count, pa.py_buffer(offsets), pa.py_buffer(chars))


def id_offset(rng: np.random.Generator) -> np.uint64:
    """A seeded starting point for `mix64` counters, so different seeds give different ids."""
    return np.uint64(rng.integers(0, 2**63, dtype=np.int64))


def pick(vocabulary: pa.Array, indices: npt.NDArray[np.integer]) -> pa.Array:
    """`vocabulary[indices]` as a flat Arrow array (None in the vocabulary gives nulls)."""
    return pc.take(vocabulary, pa.array(indices.astype(np.int32)))


def micros(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError(f"expected a timezone-aware datetime, got {moment!r}")
    delta = moment.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def timestamps(values_us: I64) -> pa.Array:
    return pa.array(values_us, type=TIMESTAMP)


def joined(*parts: pa.Array | str) -> pa.Array:
    """Element-wise string concatenation; a null part makes the row null."""
    return pc.binary_join_element_wise(*parts, "")


def service_columns(
    rng: np.random.Generator, service_of_row: npt.NDArray[np.integer], services: int
) -> dict[str, pa.Array]:
    names = [
        _SERVICE_NAMES[i] if i < len(_SERVICE_NAMES) else f"service-{i:03d}"
        for i in range(services)
    ]
    versions = [f"1.{i % 7}.{i % 3}" for i in range(services)]
    instances = [f"{name}-{i:04x}" for i, name in enumerate(names)]
    pids = rng.integers(100, 60_000, size=services).astype(np.int32)
    resources = [
        f'{{"service.name": "{name}", "service.version": "{version}", '
        f'"service.namespace": "shop", "process.pid": {pid}}}'
        for name, version, pid in zip(names, versions, pids, strict=True)
    ]
    env_index = rng.choice(len(_ENVIRONMENTS), size=len(service_of_row), p=_ENVIRONMENT_WEIGHTS)
    return {
        "service_name": pick(pa.array(names), service_of_row),
        "service_version": pick(pa.array(versions), service_of_row),
        "service_namespace": pa.array(np.full(len(service_of_row), "shop", dtype=object)),
        "service_instance_id": pick(pa.array(instances), service_of_row),
        "process_pid": pick(pa.array(pids), service_of_row),
        "otel_resource_attributes": pick(pa.array(resources), service_of_row),
        "deployment_environment": pick(pa.array(_ENVIRONMENTS, pa.string()), env_index),
        "telemetry_sdk_language": constant("python", len(service_of_row)),
        "telemetry_sdk_name": constant("opentelemetry", len(service_of_row)),
        "telemetry_sdk_version": constant("1.45.2", len(service_of_row)),
        "otel_scope_name": constant("logfire", len(service_of_row)),
        "otel_scope_version": constant("5.4.0", len(service_of_row)),
        "otel_scope_attributes": constant("{}", len(service_of_row)),
    }


def service_weights(services: int) -> npt.NDArray[np.float64]:
    """A few busy services and a long tail, as in real fleets (Zipf-like)."""
    weights = 1.0 / np.arange(1, services + 1)
    result: npt.NDArray[np.float64] = weights / weights.sum()
    return result


def constant(value: str, count: int) -> pa.Array:
    return pa.repeat(pa.scalar(value), count) if count else pa.array([], pa.string())


def created_at(end_us: I64, rng: np.random.Generator, now_us: int) -> pa.Array:
    """Ingestion times a little after the row was written, never after `now_us`."""
    lag_us = (rng.exponential(0.8, size=len(end_us)) * 1_000_000).astype(np.int64) + 1_000
    return timestamps(np.minimum(end_us + lag_us, now_us))


def day_of(values: pa.Array) -> pa.Array:
    return pc.cast(values, pa.date32())


def masked(values: pa.Array, keep: npt.NDArray[np.bool_]) -> pa.Array:
    """`values` where `keep`, null elsewhere."""
    return pc.if_else(pa.array(keep), values, pa.scalar(None, values.type))


def assemble(table: str, columns: dict[str, pa.Array], count: int) -> pa.Table:
    """A table with exactly the Logfire schema; columns not generated are all null."""
    schema = table_definition(table).schema
    arrays = [
        columns[f.name].cast(f.type) if f.name in columns else pa.nulls(count, f.type)
        for f in schema
    ]
    return pa.Table.from_arrays(arrays, schema=schema)


def utc_now_us() -> int:
    return micros(datetime.now(UTC))
