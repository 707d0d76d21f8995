"""Metrics through the OpenTelemetry API: one place that names every instrument.

Library code records here; :func:`setup_metrics` (in an entry point) installs
the SDK with an OTLP exporter when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set and,
on request, a Prometheus endpoint on 127.0.0.1.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation

_meter = metrics.get_meter("graphfetch")

request_duration = _meter.create_histogram(
    "graphfetch.request.duration",
    unit="ms",
    description="Time from planning to the profile, per pipeline and status.",
)
node_duration = _meter.create_histogram(
    "graphfetch.node.duration", unit="ms", description="Fetch time of a node, retries included."
)
node_errors = _meter.create_counter(
    "graphfetch.node.errors", description="Node fetches that failed, by kind."
)
dead_letters = _meter.create_counter(
    "graphfetch.dlq.records", description="Requests sent to the DLQ, by code."
)
config_changes = _meter.create_counter(
    "graphfetch.config.changes", description="Config versions activated, removed or rejected."
)
sheds = _meter.create_counter(
    "graphfetch.source.sheds",
    description="Fetches shed by a source's adaptive concurrency limit: no slot in time for their deadline.",
)

SOURCE_LIMIT = "graphfetch.source.concurrency_limit"

Gauge = Callable[[], Iterable[tuple[float, dict[str, str]]]]
_gauges: dict[str, list[Gauge]] = {}


def _observe(name: str) -> Callable[[CallbackOptions], Iterable[Observation]]:
    def callback(_options: CallbackOptions) -> Iterable[Observation]:
        for source in _gauges.get(name, []):
            for value, attributes in source():
                yield Observation(value, attributes)

    return callback


for _name, _description in (
    ("graphfetch.requests.in_flight", "Requests this worker's aggregator is tracking."),
    ("graphfetch.tasks.in_flight", "Fetches this worker's connector agent is running."),
    ("graphfetch.consumer.lag", "Records behind the high watermark, per topic and partition."),
    (
        SOURCE_LIMIT,
        "Attempts each started source may have in flight now (its adaptive limit, or the fixed one).",
    ),
):
    _meter.create_observable_gauge(_name, callbacks=[_observe(_name)], description=_description)


def register_gauge(name: str, source: Gauge) -> Callable[[], None]:
    """Report ``source()`` under gauge ``name``; returns a function that unregisters it."""
    _gauges.setdefault(name, []).append(source)

    def unregister() -> None:
        sources = _gauges.get(name, [])
        if source in sources:
            sources.remove(source)

    return unregister


def setup_metrics(service_name: str, *, prometheus_port: int | None = None, host: str = "127.0.0.1") -> None:
    """Install the SDK meter provider: OTLP if an endpoint is set, Prometheus if a port is given."""
    if os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource

    readers: list[MetricReader] = []
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"):
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

        readers.append(PeriodicExportingMetricReader(OTLPMetricExporter()))
    if prometheus_port:
        from opentelemetry.exporter.prometheus import PrometheusMetricReader
        from prometheus_client import start_http_server

        start_http_server(prometheus_port, addr=host)
        readers.append(PrometheusMetricReader())
    if readers:
        resource = Resource.create({SERVICE_NAME: service_name})
        metrics.set_meter_provider(MeterProvider(resource=resource, metric_readers=readers))
