"""A faust-streaming app that sends graphfetch requests and consumes their profiles.

    cd examples/faust && .venv/bin/python app.py worker -l warn

Settings from the environment: ``GRAPHFETCH_BOOTSTRAP`` (127.0.0.1:9092),
``GRAPHFETCH_REQUESTS_TOPIC`` (graphfetch.requests), ``PROFILES_TOPIC``
(profiles.enriched), ``CUSTOMERS`` (C00042,C00007: one customer360 request
each), ``APP_ID`` (graphfetch-faust-example; also its consumer group) and
``DATA_DIR`` (./faust-data). It prints one line per profile of its own requests,
``profile <request_id> <status> name=<name>`` (the faust worker logs what an app prints).
"""

from __future__ import annotations

import os
import uuid

import faust
from graphfetch_records import Profile, Request

BOOTSTRAP = os.environ.get("GRAPHFETCH_BOOTSTRAP", "127.0.0.1:9092")
REQUESTS_TOPIC = os.environ.get("GRAPHFETCH_REQUESTS_TOPIC", "graphfetch.requests")
PROFILES_TOPIC = os.environ.get("PROFILES_TOPIC", "profiles.enriched")
CUSTOMERS = [c for c in os.environ.get("CUSTOMERS", "C00042,C00007").split(",") if c]
APP_ID = os.environ.get("APP_ID", "graphfetch-faust-example")
PREFIX = f"faust-{uuid.uuid4().hex[:8]}"

app = faust.App(
    APP_ID,
    broker=f"kafka://{BOOTSTRAP}",
    store="memory://",
    datadir=os.environ.get("DATA_DIR", "faust-data"),
    web_enabled=False,  # no HTTP port: several examples (and tests) may run side by side
)
requests = app.topic(REQUESTS_TOPIC, key_type=str, value_type=Request)
profiles = app.topic(PROFILES_TOPIC, key_type=str, value_type=Profile)


@app.agent(profiles)
async def print_profiles(stream: faust.StreamT[Profile]) -> None:
    """Every profile on the output topic; ours (by request id) printed."""
    async for profile in stream:
        if profile.request_id.startswith(PREFIX):
            print(
                f"profile {profile.request_id} {profile.status} name={profile.data.get('name')}", flush=True
            )


@app.task
async def send_requests() -> None:
    """One customer360 request per customer, keyed by its request id."""
    for customer in CUSTOMERS:
        request = Request(
            request_id=f"{PREFIX}-{customer}",
            pipeline="customer360",
            keys={"customer_id": customer},
            fields=["name", "orders", "risk"],
            deadline_ms=10_000,
        )
        await requests.send(key=request.request_id, value=request)
        print(f"sent {request.request_id}", flush=True)


if __name__ == "__main__":
    app.main()
