"""``python -m devkit.demo``: the demo upstreams from the command line.

The product CLI is ``graphfetch demo-upstreams``; this entry point needs
nothing but the standard library to parse its flags. Fault flags set the
``default`` knobs of every service; ``--faults`` takes per-service JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from devkit.demo.seed import display_url
from devkit.demo.server import DemoServer, DemoServerError
from devkit.demo.server_settings import DEFAULT_FAULTS, DemoSettings

_KNOB_FLAGS = (
    ("latency_ms", float, "delay added to every call"),
    ("jitter_ms", float, "uniform extra delay 0..N ms"),
    ("error_rate", float, "share of calls answered 503 (0..1)"),
    ("hang_rate", float, "share of calls that hang --hang-ms (0..1)"),
    ("hang_ms", float, "how long a hanging call waits (default 30000)"),
    ("tail_rate", float, "share of calls whose delay is multiplied (0..1)"),
    ("tail_factor", float, "multiplier of tail calls (default 10)"),
)


def _parser() -> argparse.ArgumentParser:
    defaults = DemoSettings()
    parser = argparse.ArgumentParser(
        prog="python -m devkit.demo", description="Serve the graphfetch demo upstream APIs."
    )
    parser.add_argument("--host", default=defaults.host, help="interface (default %(default)s)")
    parser.add_argument("--port", type=int, default=defaults.port, help="default %(default)s")
    parser.add_argument("--customers", type=int, default=defaults.customers)
    parser.add_argument("--token", default=defaults.token.get_secret_value(), help="orders bearer token")
    parser.add_argument("--seed", type=int, default=defaults.seed, help="fault randomness seed")
    parser.add_argument(
        "--db-url",
        default=defaults.db_url,
        help="async SQLAlchemy URL seeded with the credit table (default %(default)s)",
    )
    parser.add_argument("--no-db", action="store_true", help="do not seed a database")
    for knob, kind, text in _KNOB_FLAGS:
        parser.add_argument(f"--{knob.replace('_', '-')}", type=kind, help=text)
    parser.add_argument("--down", action="store_true", default=None, help="every call 503")
    parser.add_argument(
        "--faults",
        type=json.loads,
        default={},
        help='per-service knobs as JSON, e.g. \'{"risk": {"error_rate": 0.2}}\'',
    )
    return parser


def settings_from_args(argv: Sequence[str] | None = None) -> DemoSettings:
    """Parse the flags into settings; exits with a usage message when they are invalid."""
    parser = _parser()
    args = parser.parse_args(argv)
    knobs = {knob: getattr(args, knob) for knob, _, _ in _KNOB_FLAGS}
    knobs["down"] = args.down
    if not isinstance(args.faults, dict):
        parser.error("--faults must be a JSON object: service -> knobs")
    faults = dict(args.faults)
    flagged = {knob: value for knob, value in knobs.items() if value is not None}
    if flagged:
        faults[DEFAULT_FAULTS] = {**faults.get(DEFAULT_FAULTS, {}), **flagged}
    try:
        return DemoSettings(
            host=args.host,
            port=args.port,
            customers=args.customers,
            token=args.token,
            seed=args.seed,
            db_url=None if args.no_db else args.db_url or None,
            faults=faults,
        )
    except ValidationError as exc:
        parser.error(str(exc))


async def _run(settings: DemoSettings) -> None:
    """Serve until SIGINT or SIGTERM; a second Ctrl-C falls back to the default handler."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def on_signal() -> None:
        stop.set()
        loop.remove_signal_handler(signal.SIGINT)

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    async with DemoServer(settings) as server:
        where = f"demo upstreams on {server.url}"
        seeded = f", credit table in {display_url(settings.db_url)}" if settings.db_url else ""
        print(f"{where} ({settings.customers} customers{seeded})", file=sys.stderr, flush=True)
        stopped = asyncio.create_task(stop.wait())
        finished = asyncio.create_task(server.wait())
        await asyncio.wait({stopped, finished}, return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        finished.cancel()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the demo upstreams in the foreground; returns the exit code."""
    settings = settings_from_args(argv)
    try:
        asyncio.run(_run(settings))
    except DemoServerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
