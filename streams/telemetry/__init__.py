"""Telemetry: OpenTelemetry tracing (:mod:`~streams.telemetry.tracing`) and metrics (:mod:`~streams.telemetry.metrics`).

Both are no-ops until set up (``setup_tracing``, ``setup_metrics``); the engine
and the Kafka runtime record through them alike.
"""
