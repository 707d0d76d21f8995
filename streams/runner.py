"""Running async services from the CLI: signals, logging and a clean exit.

The first SIGINT/SIGTERM asks the service to stop (finish or hand back work in
flight); the handlers are then restored, so a second Ctrl-C kills at once.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Awaitable, Callable

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging(level: str = "INFO") -> None:
    logging.basicConfig(level=level.upper(), format=LOG_FORMAT, stream=sys.stderr)
    logging.getLogger("aiokafka").setLevel(logging.WARNING)


async def run_until_signalled(main: Awaitable[None], stop: Callable[[], None]) -> None:
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
