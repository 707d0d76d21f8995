"""What a :class:`~streams.client.GraphfetchClient` call raises.

::

    GraphfetchError (planner)
    └── ClientError                  the client could not do what was asked
        ├── RequestRefused           graphfetch dead-lettered the request: .code, .reason, .dead_letter
        │   └── UnknownPipeline      no such pipeline (known locally, or refused by a worker)
        ├── ProfileTimeout           no profile within the time given (retriable)
        └── InvalidProfile           a record on an output topic is not a profile: .topic, .partition, .offset

Kafka's own errors (a broker that cannot be reached) are raised as they are by aiokafka.
"""

from __future__ import annotations

from collections.abc import Collection

from planner import GraphfetchError
from streams.events import DeadLetter


class ClientError(GraphfetchError):
    """The client could not do what was asked; ``retriable`` says whether trying again may help."""

    retriable = False


class RequestRefused(ClientError):
    """graphfetch refused the request and sent it to the DLQ; ``code`` is its dead-letter code."""

    def __init__(
        self, request_id: str | None, *, code: str, reason: str, dead_letter: DeadLetter | None = None
    ) -> None:
        what = "request" if request_id is None else f"request {request_id}"
        super().__init__(f"{what} refused ({code}): {reason}")
        self.request_id = request_id
        self.code = code
        self.reason = reason
        self.dead_letter = dead_letter


class UnknownPipeline(RequestRefused):
    """The pipeline is not one graphfetch serves: refused before sending when the client knows the
    pipelines (``output_topics``), else by the worker (``dead_letter`` then says why)."""

    def __init__(
        self,
        request_id: str | None,
        *,
        pipeline: str,
        known: Collection[str] = (),
        reason: str | None = None,
        dead_letter: DeadLetter | None = None,
    ) -> None:
        if reason is None:
            reason = f"unknown pipeline '{pipeline}' (known: {', '.join(sorted(known)) or 'none'})"
        super().__init__(request_id, code="unknown_pipeline", reason=reason, dead_letter=dead_letter)
        self.pipeline = pipeline


class ProfileTimeout(ClientError, TimeoutError):
    """No profile (nor dead letter) for the request within ``timeout_s``: are workers running?"""

    retriable = True

    def __init__(self, request_id: str, *, topic: str, timeout_s: float) -> None:
        super().__init__(
            f"no profile for request {request_id} on {topic} within {timeout_s:g} s; "
            "are graphfetch workers running on this cluster?"
        )
        self.request_id = request_id
        self.topic = topic
        self.timeout_s = timeout_s


class InvalidProfile(ClientError):
    """A record read as a profile is not one (another producer writes to the topic?)."""

    def __init__(self, *, topic: str, partition: int, offset: int, problem: str) -> None:
        super().__init__(f"{topic}[{partition}]@{offset} is not a profile: {problem}")
        self.topic = topic
        self.partition = partition
        self.offset = offset
