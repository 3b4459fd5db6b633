"""Deterministic synthetic `metrics` rows: gauges, sums, histograms, exponential histograms."""

from datetime import datetime

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.server.synthetic_columns import (
    LOCAL_PROJECT_ID,
    assemble,
    constant,
    created_at,
    day_of,
    masked,
    micros,
    pick,
    service_columns,
    service_weights,
    timestamps,
    utc_now_us,
)

# (name, type, unit, description, temporality, monotonic)
_METRICS = (
    ("http.server.duration", "histogram", "ms", "Duration of HTTP requests", "delta", None),
    ("http.server.requests", "sum", "{request}", "HTTP requests served", "delta", True),
    ("process.cpu.utilization", "gauge", "1", "CPU utilisation", None, None),
    ("system.memory.usage", "gauge", "By", "Memory in use", None, None),
    ("db.client.connections", "sum", "{connection}", "Open connections", "cumulative", False),
    ("queue.wait", "exponential_histogram", "s", "Time jobs wait in queue", "delta", None),
)
_BOUNDS = np.array([0, 5, 10, 25, 50, 100, 250, 500, 1000], dtype=np.float64)
_EXP_BUCKETS = 8
_INTERVAL_US = 60_000_000


def generate_metrics(
    n_rows: int,
    start: datetime,
    end: datetime,
    *,
    seed: int = 0,
    services: int = 12,
    now: datetime | None = None,
    project_id: str = LOCAL_PROJECT_ID,
) -> pa.Table:
    """`n_rows` metric data points with `recorded_timestamp` in `[start, end)`."""
    start_us, end_us = micros(start), micros(end)
    if end_us <= start_us:
        raise ValueError("the window must end after it starts")
    rng = np.random.default_rng(seed)
    now_us = utc_now_us() if now is None else micros(now)
    metric = rng.integers(0, len(_METRICS), size=n_rows)
    kinds = np.array([m[1] for m in _METRICS])[metric]
    is_hist = kinds == "histogram"
    is_exp = kinds == "exponential_histogram"
    is_scalar = ~(is_hist | is_exp)
    recorded = rng.integers(start_us, end_us, size=n_rows)
    has_start = pa.array(kinds != "gauge")

    bucket_counts = rng.poisson(4.0, size=(n_rows, len(_BOUNDS) + 1)).astype(np.int32)
    hist_count = bucket_counts.sum(axis=1)
    exp_counts = rng.poisson(3.0, size=(n_rows, _EXP_BUCKETS)).astype(np.int32)
    scalar = np.where(kinds == "gauge", rng.random(n_rows), rng.integers(0, 500, n_rows) * 1.0)

    recorded_ts = timestamps(recorded)
    service = rng.choice(services, size=n_rows, p=service_weights(services))
    columns = {
        **service_columns(rng, service, services),
        "project_id": constant(project_id, n_rows),
        "metric_name": pick(pa.array([m[0] for m in _METRICS]), metric),
        "metric_type": pa.array(kinds),
        "unit": pick(pa.array([m[2] for m in _METRICS]), metric),
        "metric_description": pick(pa.array([m[3] for m in _METRICS]), metric),
        "aggregation_temporality": pick(pa.array([m[4] for m in _METRICS], pa.string()), metric),
        "is_monotonic": pick(pa.array([m[5] for m in _METRICS], pa.bool_()), metric),
        "recorded_timestamp": recorded_ts,
        "start_timestamp": pc.if_else(
            has_start, timestamps(recorded - _INTERVAL_US), pa.scalar(None, recorded_ts.type)
        ),
        "created_at": created_at(recorded, rng, now_us),
        "day": day_of(recorded_ts),
        "attributes": pick(
            pa.array(['{"route": "/api/items"}', '{"route": "/api/orders"}', "{}"]),
            rng.integers(0, 3, n_rows),
        ),
        "scalar_value": masked(pa.array(scalar), is_scalar),
        "histogram_bucket_counts": _lists(bucket_counts, is_hist),
        "histogram_explicit_bounds": _lists(np.tile(_BOUNDS, (n_rows, 1)), is_hist),
        "histogram_count": masked(pa.array(hist_count.astype(np.int32)), is_hist),
        "histogram_sum": masked(pa.array(hist_count * rng.uniform(1, 300, n_rows)), is_hist),
        "histogram_min": masked(pa.array(rng.uniform(0, 5, n_rows)), is_hist),
        "histogram_max": masked(pa.array(rng.uniform(500, 2000, n_rows)), is_hist),
        "exp_histogram_scale": masked(pa.array(np.full(n_rows, 3, np.int32)), is_exp),
        "exp_histogram_zero_count": masked(pa.array(rng.poisson(1, n_rows), pa.int32()), is_exp),
        "exp_histogram_zero_threshold": masked(pa.array(np.zeros(n_rows)), is_exp),
        "exp_histogram_positive_bucket_counts": _lists(exp_counts, is_exp),
        "exp_histogram_positive_bucket_counts_offset": masked(
            pa.array(rng.integers(-4, 4, n_rows), pa.int32()), is_exp
        ),
    }
    return assemble("metrics", columns, n_rows)


def _lists(matrix: npt.NDArray[np.generic], keep: npt.NDArray[np.bool_]) -> pa.Array:
    """One list per matrix row, null where `keep` is false."""
    rows, width = matrix.shape
    offsets = pa.array(np.arange(0, (rows + 1) * width, width, dtype=np.int32))
    return pa.ListArray.from_arrays(offsets, pa.array(matrix.ravel()), mask=pa.array(~keep))
