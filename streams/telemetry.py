"""Tracing: W3C trace context in Kafka headers, spans through the OpenTelemetry API.

Library code only uses the API; :func:`setup_tracing` installs the SDK in an
entry point (a worker, ``graphfetch dev``). Export is OTLP over HTTP, configured
by the standard ``OTEL_*`` variables, and only when an endpoint is set;
``OTEL_SDK_DISABLED=true`` turns tracing off. The batch processor's queue is
bounded, so a collector that is down costs dropped spans, never blocked workers.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.propagate import extract, inject
from opentelemetry.trace import Span

Headers = Sequence[tuple[str, bytes]]
TRACEPARENT = "traceparent"

tracer = trace.get_tracer("graphfetch")


def headers_for(span: Span | None = None) -> list[tuple[str, bytes]]:
    """Kafka headers carrying the trace context of ``span`` (or the current one)."""
    carrier: dict[str, str] = {}
    ctx = trace.set_span_in_context(span) if span is not None else None
    inject(carrier, context=ctx)
    return [(k, v.encode("ascii")) for k, v in carrier.items()]


def context_from(headers: Headers | None) -> otel_context.Context:
    """The trace context a record carries (an empty context if none)."""
    carrier = {k: v.decode("ascii", "replace") for k, v in headers or () if isinstance(v, bytes | bytearray)}
    return extract(carrier)


def trace_id_of(span: Span) -> str | None:
    ctx = span.get_span_context()
    return f"{ctx.trace_id:032x}" if ctx.is_valid else None


def setup_tracing(service_name: str) -> None:
    """Install the SDK tracer provider once per process (a no-op if one is installed)."""
    if os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    if isinstance(trace.get_tracer_provider(), TracerProvider):
        return
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service_name}))
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(), max_queue_size=4096))
    trace.set_tracer_provider(provider)
