"""The steady open-loop stream of customer360 requests a scenario runs under.

Open loop: request ``i`` is due at ``start + i / rate`` whatever happened to
the ones before, as real clients keep arriving while graphfetch struggles. A
request counts as sent once the broker acknowledged it; one the broker never
acknowledged (the client gave up) is counted apart and never as lost. Keys
walk through the demo upstreams' customers (``C00000`` …), so about 29 % of
requests also run the ``risk`` node.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from devkit.demo import DemoSettings
from streams.client import encode_request, request_event
from streams.kafka.factory import make_producer
from streams.settings import Settings

_LINGER_MS = 2


@dataclass(frozen=True, slots=True)
class Sent:
    """One request handed to the producer."""

    request_id: str
    at: float
    """``time.monotonic()`` when it was handed to the producer."""


@dataclass(kw_only=True)
class RequestStream:
    """Sends ``rate`` requests a second until :meth:`run`'s ``stop`` is set, then waits for the acks."""

    settings: Settings
    pipeline: str
    rate: float
    prefix: str
    customers: int = DemoSettings().customers
    sent: list[Sent] = field(default_factory=list)
    acked: set[str] = field(default_factory=set)
    send_failures: int = 0

    async def run(self, stop: asyncio.Event) -> None:
        producer = make_producer(self.settings, linger_ms=max(self.settings.linger_ms, _LINGER_MS))
        await producer.start()
        deliveries: list[asyncio.Future[object]] = []
        started = time.monotonic()
        try:
            i = 0
            while not stop.is_set():
                due = started + i / self.rate
                if due > time.monotonic():
                    try:
                        await asyncio.wait_for(stop.wait(), due - time.monotonic())
                    except TimeoutError:
                        pass  # due: send it
                    else:
                        break
                request_id = f"{self.prefix}-{i}"
                payload = encode_request(
                    request_event(
                        self.pipeline, {"customer_id": f"C{i % self.customers:05d}"}, request_id=request_id
                    )
                )
                at = time.monotonic()
                delivery = await producer.send(self.settings.requests_topic, payload, key=request_id.encode())
                self.sent.append(Sent(request_id, at))
                delivery.add_done_callback(lambda d, rid=request_id: self._delivered(rid, d))
                deliveries.append(delivery)
                i += 1
            await asyncio.gather(*deliveries, return_exceptions=True)
        finally:
            await producer.stop()

    def _delivered(self, request_id: str, delivery: asyncio.Future[object]) -> None:
        if delivery.cancelled() or delivery.exception() is not None:
            self.send_failures += 1
        else:
            self.acked.add(request_id)


async def send_probe(settings: Settings, pipeline: str, request_id: str) -> None:
    """One request for the demo customer C00001 (its low credit score makes every node run)."""
    producer = make_producer(settings)
    await producer.start()
    try:
        payload = encode_request(request_event(pipeline, {"customer_id": "C00001"}, request_id=request_id))
        await producer.send_and_wait(settings.requests_topic, payload, key=request_id.encode())
    finally:
        await producer.stop()
