"""Is a broker serving yet? One hand-encoded Kafka request over a blocking socket.

Readiness is checked from synchronous code (a broker starts in a thread, with
no event loop), so these probes speak just enough of the wire protocol: a
request header (api key, version, correlation id, client id), one body, and
the response's correlation id checked before the answer is read.
"""

from __future__ import annotations

import socket
import struct

__all__ = ["answers_api_versions", "answers_metadata", "finds_group_coordinator"]

_CORRELATION_ID = 7
_CLIENT_ID = b"graphfetch-probe"
_API_METADATA = 3
_API_VERSIONS = 18
_API_FIND_COORDINATOR = 10
_COORDINATOR_OF_A_GROUP = 0


def answers_metadata(host: str, port: int, *, timeout_s: float) -> bool:
    """Whether a Metadata v0 request for every topic (empty topic array) returns a broker list.

    Version 0 is what Tansu serves; Apache Kafka 4 no longer accepts it
    (KIP-896), so use :func:`answers_api_versions` there.
    """
    answer = _round_trip(host, port, _API_METADATA, 0, struct.pack(">i", 0), timeout_s=timeout_s)
    return answer is not None and len(answer) >= 4 and struct.unpack(">i", answer[:4])[0] > 0


def answers_api_versions(host: str, port: int, *, timeout_s: float) -> bool:
    """Whether an ApiVersions v0 request is answered without error.

    Every Kafka-protocol broker serves it, before authentication too. Apache
    Kafka opens its client listener only once the broker is unfenced, so an
    answer there means it takes clients.
    """
    answer = _round_trip(host, port, _API_VERSIONS, 0, b"", timeout_s=timeout_s)
    return answer is not None and len(answer) >= 2 and struct.unpack(">h", answer[:2])[0] == 0


def finds_group_coordinator(host: str, port: int, *, timeout_s: float) -> bool:
    """Whether a FindCoordinator v1 request for a consumer group is answered without error.

    A new Apache Kafka cluster answers COORDINATOR_NOT_AVAILABLE until it has
    created its offsets topic, which the first such request sets off; clients
    that join groups meanwhile log an error a retry for each. Asking here first
    means a started broker serves consumer groups at once.
    """
    group = b"graphfetch-probe"
    body = struct.pack(">h", len(group)) + group + struct.pack(">b", _COORDINATOR_OF_A_GROUP)
    answer = _round_trip(host, port, _API_FIND_COORDINATOR, 1, body, timeout_s=timeout_s)
    # v1: throttle_time_ms (int32), error_code (int16), ...
    return answer is not None and len(answer) >= 6 and struct.unpack(">h", answer[4:6])[0] == 0


def _round_trip(
    host: str, port: int, api_key: int, version: int, body: bytes, *, timeout_s: float
) -> bytes | None:
    """Send one request and return its response after the correlation id, or None."""
    header = struct.pack(">hhih", api_key, version, _CORRELATION_ID, len(_CLIENT_ID)) + _CLIENT_ID
    request = header + body
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as sock:
            sock.sendall(struct.pack(">i", len(request)) + request)
            (size,) = struct.unpack(">i", _recv_exactly(sock, 4))
            response = _recv_exactly(sock, size)
    except OSError:
        return None
    if len(response) < 4 or struct.unpack(">i", response[:4])[0] != _CORRELATION_ID:
        return None
    return response[4:]


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    buffer = bytearray()
    while len(buffer) < size:
        chunk = sock.recv(size - len(buffer))
        if not chunk:
            raise ConnectionError("broker closed the connection mid-response")
        buffer.extend(chunk)
    return bytes(buffer)
