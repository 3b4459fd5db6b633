"""OTLP metric data points as `metrics` rows: one row per data point, as Logfire stores them."""

from datetime import datetime
from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    AggregationTemporality,
    Exemplar,
    ExponentialHistogramDataPoint,
    HistogramDataPoint,
    Metric,
    NumberDataPoint,
)

from pipelines.server.otlp_common import (
    attributes,
    hex_id,
    json_or_none,
    optional_timestamp,
    resource_columns,
    scope_columns,
    timestamp,
    to_json,
)

_TEMPORALITY: dict[int, str] = {
    AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA: "delta",
    AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE: "cumulative",
}
# The OTLP oneof names, which are also the `metric_type` values Logfire stores.
_METRIC_TYPES = frozenset({"gauge", "sum", "histogram", "exponential_histogram"})


def metrics_rows(
    request: ExportMetricsServiceRequest, project_id: str, created_at: datetime
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for resource_metrics in request.resource_metrics:
        resource = resource_columns(resource_metrics.resource)
        for scope_metrics in resource_metrics.scope_metrics:
            scope = scope_columns(scope_metrics.scope)
            for metric in scope_metrics.metrics:
                for row in _metric_rows(metric):
                    row.update(resource, **scope, project_id=project_id, created_at=created_at)
                    rows.append(row)
    return rows


def _metric_rows(metric: Metric) -> list[dict[str, Any]]:
    which = metric.WhichOneof("data")
    if which not in _METRIC_TYPES:
        # Summaries are legacy (Prometheus) data that the Python SDKs never send; skip them
        # rather than invent columns Logfire has no place for.
        return []
    data = getattr(metric, which)
    common = {
        "metric_name": metric.name,
        "metric_type": which,
        "unit": metric.unit,
        "metric_description": metric.description or None,
        "aggregation_temporality": _TEMPORALITY.get(getattr(data, "aggregation_temporality", 0)),
        "is_monotonic": data.is_monotonic if which == "sum" else None,
    }
    rows = []
    for point in data.data_points:
        row = {**common, **_point_columns(point)}
        if isinstance(point, NumberDataPoint):
            row.update(_number_columns(point))
        elif isinstance(point, HistogramDataPoint):
            row.update(_histogram_columns(point))
        elif isinstance(point, ExponentialHistogramDataPoint):
            row.update(_exponential_columns(point))
        rows.append(row)
    return rows


def _point_columns(
    point: NumberDataPoint | HistogramDataPoint | ExponentialHistogramDataPoint,
) -> dict[str, Any]:
    recorded = timestamp(point.time_unix_nano)
    return {
        "recorded_timestamp": recorded,
        "start_timestamp": optional_timestamp(point.start_time_unix_nano),
        "day": recorded.date(),
        "attributes": to_json(attributes(point.attributes)),
        "exemplars": json_or_none([_exemplar(e) for e in point.exemplars]),
    }


def _number_columns(point: NumberDataPoint) -> dict[str, Any]:
    which = point.WhichOneof("value")
    return {"scalar_value": float(getattr(point, which)) if which else None}


def _histogram_columns(point: HistogramDataPoint) -> dict[str, Any]:
    return {
        "histogram_bucket_counts": list(point.bucket_counts),
        "histogram_explicit_bounds": list(point.explicit_bounds),
        "histogram_count": point.count,
        "histogram_sum": point.sum if point.HasField("sum") else None,
        "histogram_min": point.min if point.HasField("min") else None,
        "histogram_max": point.max if point.HasField("max") else None,
    }


def _exponential_columns(point: ExponentialHistogramDataPoint) -> dict[str, Any]:
    return {
        "histogram_count": point.count,
        "histogram_sum": point.sum if point.HasField("sum") else None,
        "histogram_min": point.min if point.HasField("min") else None,
        "histogram_max": point.max if point.HasField("max") else None,
        "exp_histogram_scale": point.scale,
        "exp_histogram_zero_count": point.zero_count,
        "exp_histogram_zero_threshold": point.zero_threshold,
        "exp_histogram_positive_bucket_counts": list(point.positive.bucket_counts),
        "exp_histogram_positive_bucket_counts_offset": point.positive.offset,
        "exp_histogram_negative_bucket_counts": list(point.negative.bucket_counts),
        "exp_histogram_negative_bucket_counts_offset": point.negative.offset,
    }


def _exemplar(exemplar: Exemplar) -> dict[str, Any]:
    which = exemplar.WhichOneof("value")
    return {
        "time": timestamp(exemplar.time_unix_nano).isoformat(),
        "value": getattr(exemplar, which) if which else None,
        "trace_id": hex_id(exemplar.trace_id),
        "span_id": hex_id(exemplar.span_id),
        "filtered_attributes": attributes(exemplar.filtered_attributes),
    }
