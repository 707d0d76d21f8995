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
from contextlib import AbstractContextManager
from contextvars import Token
from types import TracebackType
from typing import Any

from opentelemetry import baggage, trace
from opentelemetry import context as otel_context
from opentelemetry.environment_variables import OTEL_PYTHON_TRACER_PROVIDER
from opentelemetry.propagate import extract, inject
from opentelemetry.trace import NonRecordingSpan, NoOpTracerProvider, ProxyTracerProvider, Span
from opentelemetry.util.types import Attributes

from planner import Outcome, Task

Headers = Sequence[tuple[str, bytes]]
TRACEPARENT = "traceparent"

tracer = trace.get_tracer("graphfetch")
DECISION_EVENT = "graphfetch.decision"
_PROVIDER_FROM_ENV = OTEL_PYTHON_TRACER_PROVIDER in os.environ


def tracing_enabled() -> bool:
    """Whether spans are recorded: a tracer provider other than the API's no-op ones is installed.

    Asked per message, since a provider may be installed after import. The API's getter reads
    ``os.environ`` on every call while no provider is set (~1 us, several times a message), so
    the installed provider is read directly unless the environment names one to load.
    """
    provider = trace._TRACER_PROVIDER if not _PROVIDER_FROM_ENV else trace.get_tracer_provider()
    return provider is not None and not isinstance(provider, ProxyTracerProvider | NoOpTracerProvider)


class _PassThrough(AbstractContextManager[Span]):
    """What starting a span amounts to when tracing is off: the parent's span context becomes
    current (so records sent inside carry the incoming trace on), nothing is recorded. The same
    as the API's no-op tracer, without building a span's arguments and a generator per message."""

    def __init__(self, context: otel_context.Context | None) -> None:
        parent = trace.get_current_span(context)
        self._span: Span = (
            parent if isinstance(parent, NonRecordingSpan) else NonRecordingSpan(parent.get_span_context())
        )
        self._token: Token[otel_context.Context] | None = None

    def __enter__(self) -> Span:
        if trace.get_current_span() is not self._span:  # else the context would be the current one again
            self._token = otel_context.attach(trace.set_span_in_context(self._span))
        return self._span

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._token is not None:
            otel_context.detach(self._token)


def traced(
    name: str,
    *,
    context: otel_context.Context | None = None,
    kind: trace.SpanKind = trace.SpanKind.INTERNAL,
    attributes: Attributes = None,
) -> AbstractContextManager[Span]:
    """``tracer.start_as_current_span``, or its pass-through equivalent when tracing is off."""
    if tracing_enabled():
        return tracer.start_as_current_span(name, context=context, kind=kind, attributes=attributes)
    return _PassThrough(context)


def headers_for(span: Span | None = None) -> list[tuple[str, bytes]]:
    """Kafka headers carrying the trace context of ``span`` (or the current one).

    None at all when there is nothing to carry, no valid span context and no baggage (every
    record when tracing is off and no trace came in): the propagators would write nothing.
    """
    shown = span if span is not None else trace.get_current_span()
    if not shown.get_span_context().is_valid and not baggage.get_all():
        return []
    carrier: dict[str, str] = {}
    ctx = trace.set_span_in_context(span) if span is not None else None
    inject(carrier, context=ctx)
    return [(k, v.encode("ascii")) for k, v in carrier.items()]


def context_from(headers: Headers | None) -> otel_context.Context:
    """The trace context a record carries (an empty context if none)."""
    if not headers:  # nothing to extract
        return otel_context.Context()
    carrier = {k: v.decode("ascii", "replace") for k, v in headers if isinstance(v, bytes | bytearray)}
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


def dispatch_span_headers(*, node: str, task_id: str, topic: str) -> list[tuple[str, bytes]]:
    """Record a task's dispatch as a producer span under the current span; headers carry it on."""
    if not tracing_enabled():
        return headers_for()
    with tracer.start_as_current_span(
        f"dispatch {node}",
        kind=trace.SpanKind.PRODUCER,
        attributes={
            "messaging.system": "kafka",
            "messaging.operation.type": "send",
            "messaging.destination.name": topic,
            "graphfetch.node": node,
            "graphfetch.task_id": task_id,
        },
    ) as span:
        return headers_for(span)


def record_skip(*, node: str, reason: str) -> None:
    """A node skipped by its ``when:`` (or a skipped dependency), as a zero-length span."""
    if not tracing_enabled():
        return
    with tracer.start_as_current_span(
        f"skip {node}",
        attributes={"graphfetch.node": node, "graphfetch.skipped": True, "graphfetch.reason": reason},
    ):
        pass


def record_queue(*, node: str, dispatched_at_ms: float, picked_at_ms: float) -> None:
    """The time a task waited between its dispatch and a connector worker picking it up."""
    if not tracing_enabled():
        return
    queued = tracer.start_span(
        f"queue {node}",
        start_time=int(dispatched_at_ms * 1_000_000),
        attributes={
            "graphfetch.node": node,
            "graphfetch.queue_ms": max(0.0, picked_at_ms - dispatched_at_ms),
        },
    )
    queued.end(end_time=int(max(picked_at_ms, dispatched_at_ms) * 1_000_000))


class AttemptSpans:
    """Turns a fetch's attempt events into one child span per attempt; retries, timeouts, breaker
    and hedging decisions become span events. A hedged try has two attempts open at once (the
    primary leg and the hedge leg); the losing leg's span ends marked ``cancelled``. Use as the
    ``observer`` of a fetch; call :meth:`close` after it."""

    def __init__(self, parent: Span, *, attributes: dict[str, str] | None = None) -> None:
        self._parent = parent
        self._context = trace.set_span_in_context(parent)
        self._attributes = attributes or {}
        self._open: dict[bool, Span] = {}  # leg (hedge?) -> its attempt's span

    def __call__(self, event: Any) -> None:
        attributes: dict[str, str | int | float | bool] = {"graphfetch.attempt": event.attempt}
        if event.error_kind:
            attributes["error.type"] = event.error_kind
        if event.message:
            attributes["message"] = event.message
        if event.delay_ms is not None:
            attributes["graphfetch.delay_ms"] = round(event.delay_ms, 3)
        if event.latency_ms is not None:
            attributes["graphfetch.latency_ms"] = round(event.latency_ms, 3)
        if event.reason:
            attributes["graphfetch.reason"] = str(event.reason)
        kind, leg = event.kind, bool(event.hedge)
        if kind == "attempt_start":
            self._end(leg)
            self._open[leg] = tracer.start_span(
                f"attempt {event.attempt}" + (" (hedge)" if leg else ""),
                context=self._context,
                kind=trace.SpanKind.CLIENT,
                attributes={**self._attributes, "graphfetch.attempt": event.attempt, "graphfetch.hedge": leg},
            )
        elif kind in ("attempt_failed", "succeeded") and leg in self._open:
            if kind == "attempt_failed":
                span = self._open[leg]
                span.add_event("timeout" if event.error_kind == "timeout" else "failed", attributes)
                span.set_status(trace.StatusCode.ERROR, event.error_kind or "failed")
            self._end(leg)
        else:
            self._parent.add_event(kind, attributes)
            if kind in ("hedge_won", "hedge_lost"):
                loser = kind == "hedge_lost"  # hedge_won: the primary leg lost; hedge_lost: the hedge did
                if loser in self._open:
                    self._open[loser].add_event(
                        "cancelled", {"graphfetch.reason": "the other leg answered first"}
                    )
                self._end(loser)

    def _end(self, leg: bool) -> None:
        span = self._open.pop(leg, None)
        if span is not None:
            span.end()

    def close(self) -> None:
        for leg in list(self._open):
            self._end(leg)


def fetch_attributes(task: Task) -> dict[str, str]:
    """The ``graphfetch.*`` attributes of a node's fetch span (never key values: they may be secret)."""
    return {
        "graphfetch.pipeline": task.pipeline,
        "graphfetch.request_id": task.request_id,
        "graphfetch.node": task.node,
        "graphfetch.source": task.source,
        "graphfetch.connector": task.connector,
        "graphfetch.config_version": task.config_version,
    }


def record_outcome(span: Span, outcome: Outcome) -> None:
    """A finished fetch on its span: every decision as a ``graphfetch.decision`` event in the words
    of its lineage note, the number of attempts, and an error status for a failure."""
    if not span.is_recording():
        return
    for note in outcome.notes:
        span.add_event(DECISION_EVENT, {"message": note})
    span.set_attribute("graphfetch.attempts", outcome.attempts)
    if outcome.failure is not None:
        span.set_status(trace.StatusCode.ERROR, outcome.failure.kind)
