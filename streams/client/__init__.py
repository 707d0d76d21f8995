"""The Python client of graphfetch, for the services that send requests and read profiles.

::

    from streams.client import GraphfetchClient

    async with GraphfetchClient(bootstrap="127.0.0.1:9092") as client:
        profile = await client.request("customer360", keys={"customer_id": "C00042"}, fields=["name"])

It is what ``graphfetch request``, ``produce`` and ``consume`` run. Modules:
:mod:`~streams.client.client` (the client), :mod:`~streams.client.errors` (what it raises),
:mod:`~streams.client.requests` (building request events), :mod:`~streams.client.decoding`
(reading events as this contract version does), :mod:`~streams.client.followers` (reading
answers in the background). It needs neither the runtime nor the tooling.
"""

from streams.client.client import DEFAULT_OUTPUT_TOPIC, ClientState, GraphfetchClient
from streams.client.decoding import decode_dead_letter, decode_dlq_record, decode_profile
from streams.client.errors import ClientError, InvalidProfile, ProfileTimeout, RequestRefused, UnknownPipeline
from streams.client.requests import encode_request, expand_counter, request_event

__all__ = [
    "DEFAULT_OUTPUT_TOPIC",
    "ClientError",
    "ClientState",
    "GraphfetchClient",
    "InvalidProfile",
    "ProfileTimeout",
    "RequestRefused",
    "UnknownPipeline",
    "decode_dead_letter",
    "decode_dlq_record",
    "decode_profile",
    "encode_request",
    "expand_counter",
    "request_event",
]
