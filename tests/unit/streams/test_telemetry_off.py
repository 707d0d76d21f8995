"""With tracing off, spans are skipped but the incoming trace context still travels on."""

from __future__ import annotations

import pytest
from opentelemetry import trace

from streams.telemetry import tracing
from streams.telemetry.tracing import (
    context_from,
    dispatch_span_headers,
    headers_for,
    traced,
    tracing_enabled,
)

TRACEPARENT = b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@pytest.fixture(autouse=True)
def _tracing_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """No provider installed, whatever tests ran before in this process (one installs a real one)."""
    monkeypatch.setattr(trace, "_TRACER_PROVIDER", None)
    monkeypatch.setattr(tracing, "_PROVIDER_FROM_ENV", False)
    assert not tracing_enabled()


def test_records_sent_inside_carry_the_incoming_trace() -> None:
    with traced(
        "fetch x", context=context_from([("traceparent", TRACEPARENT)]), kind=trace.SpanKind.CONSUMER
    ) as span:
        assert not span.is_recording()
        assert dict(headers_for(span))["traceparent"] == TRACEPARENT
        assert dict(dispatch_span_headers(node="x", task_id="r/x", topic="t"))["traceparent"] == TRACEPARENT
    assert headers_for() == []  # the context is restored on exit


def test_no_incoming_trace_means_no_headers() -> None:
    with traced("plan p", context=context_from([])):
        assert dispatch_span_headers(node="x", task_id="r/x", topic="t") == []


def test_a_span_inside_another_carries_the_trace_on_and_leaves_it_current() -> None:
    with traced("fetch x", context=context_from([("traceparent", TRACEPARENT)])):
        with traced("attempt 1") as inner:
            assert dict(headers_for(inner))["traceparent"] == TRACEPARENT
        assert dict(headers_for())["traceparent"] == TRACEPARENT
    assert headers_for() == []
