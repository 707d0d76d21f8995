"""Running async services from the CLI: signals, logging and a clean exit.

The first SIGINT/SIGTERM asks the service to stop (finish or hand back work in
flight); the handlers are then restored, so a second Ctrl-C kills at once.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s %(trace_id)s %(span_id)s"


class TraceContextFilter(logging.Filter):
    """Adds the current span's ``trace_id`` and ``span_id`` to every record (empty outside a span)."""

    def filter(self, record: logging.LogRecord) -> bool:
        from opentelemetry import trace

        ctx = trace.get_current_span().get_span_context()
        record.trace_id = f"{ctx.trace_id:032x}" if ctx.is_valid else ""
        record.span_id = f"{ctx.span_id:016x}" if ctx.is_valid else ""
        return True


def setup_logging(level: str = "INFO", *, json_format: bool = False) -> None:
    """Plain lines for people, or one JSON object a line (with trace and request ids) for machines."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(TraceContextFilter())
    if json_format:
        from pythonjsonlogger.json import JsonFormatter

        handler.setFormatter(
            JsonFormatter(JSON_FIELDS, rename_fields={"levelname": "level", "name": "logger"})
        )
    else:
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    for noisy in ("aiokafka", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def run_service(main: Awaitable[None], stop: Callable[[], None], *, event_loop: str = "auto") -> None:
    """Run a long-lived service on uvloop when it is installed (``auto``), or on asyncio's loop."""
    if event_loop in ("auto", "uvloop"):
        try:
            import uvloop
        except ImportError:
            if event_loop == "uvloop":
                raise RuntimeError("GRAPHFETCH_EVENT_LOOP=uvloop needs uvloop: pip install uvloop") from None
        else:
            uvloop.run(run_until_signalled(main, stop))
            return
    asyncio.run(run_until_signalled(main, stop))


async def run_until_signalled(main: Awaitable[object], stop: Callable[[], object]) -> None:
    """Await ``main``; on the first signal call ``stop`` and restore the default handlers."""
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)

    def on_signal() -> None:
        for sig in signals:
            loop.remove_signal_handler(sig)
        logging.getLogger("graphfetch").info("stopping (press Ctrl-C again to kill)")
        stop()

    for sig in signals:
        loop.add_signal_handler(sig, on_signal)
    try:
        await main
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)


class Interrupted(Exception):
    """A SIGINT or SIGTERM cancelled the work of :func:`cancelled_on_signal`; it has cleaned up."""


async def cancelled_on_signal(main: Coroutine[Any, Any, T]) -> T:
    """Await ``main`` in a task that the first SIGINT or SIGTERM cancels, so its ``finally`` and
    ``async with`` blocks stop what it started (a SIGTERM would otherwise end the process at once);
    raises :class:`Interrupted` then. A second Ctrl-C kills at once."""
    task = asyncio.ensure_future(main)
    try:
        await run_until_signalled(task, task.cancel)
    except asyncio.CancelledError:
        if task.cancelled() and not _cancelling_us():
            raise Interrupted from None
        raise
    return task.result()


def _cancelling_us() -> bool:
    current = asyncio.current_task()
    return current is not None and current.cancelling() > 0
