"""``GraphfetchClient``: send requests to graphfetch, await their profiles, follow the profiles of a pipeline."""

from __future__ import annotations

import asyncio
import enum
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from types import TracebackType

from aiokafka import AIOKafkaProducer
from aiokafka.structs import RecordMetadata
from opentelemetry import trace

from planner import Profile
from planner.config import Output
from streams.client.decoding import decode_dlq_record, decode_profile
from streams.client.errors import ClientError, InvalidProfile, ProfileTimeout, RequestRefused, UnknownPipeline
from streams.client.followers import Follower
from streams.client.requests import encode_request, expand_counter, new_id_prefix, request_event
from streams.events import DeadLetter, RequestEvent
from streams.kafka.factory import make_producer
from streams.kafka.topicreader import WholeTopic
from streams.settings import Settings
from streams.telemetry.tracing import headers_for, tracer

DEFAULT_OUTPUT_TOPIC: str = Output.model_fields["topic"].default
"""Where a pipeline publishes when its config names no topic; assumed for pipelines the client was not told of."""

CLOCK_SKEW_MS = 5_000
"""How far back the client starts reading for an answer, or a stream of profiles "from now": a
record's timestamp is the worker's clock, which may be behind this machine's."""


class ClientState(enum.Enum):
    UNOPENED = "unopened"
    OPENED = "opened"
    CLOSED = "closed"


Answer = Profile | DeadLetter


class GraphfetchClient:
    """A producing (and consuming) service's view of graphfetch on Kafka.

    ::

        async with GraphfetchClient(bootstrap="kafka:9092") as client:
            profile = await client.request("customer360", keys={"customer_id": "C00042"}, deadline_ms=800)
            async for profile in client.profiles("customer360"):
                ...

    ``settings`` default to the ``GRAPHFETCH_*`` environment (topic names, security);
    ``bootstrap`` overrides theirs. ``output_topics`` maps each pipeline to its output topic: given,
    a request for another pipeline raises :class:`UnknownPipeline` before anything is sent; without
    it every pipeline is assumed to publish on ``profiles.enriched`` and a worker refuses unknown
    ones (the same error, carrying the dead letter). One client serves any number of concurrent
    requests: one reader per topic hands each answer to the request awaiting it.
    """

    def __init__(
        self,
        *,
        bootstrap: str | None = None,
        settings: Settings | None = None,
        output_topics: Mapping[str, str] | None = None,
    ) -> None:
        base = settings if settings is not None else Settings()
        self.settings = base if bootstrap is None else base.model_copy(update={"bootstrap": bootstrap})
        self._output_topics = None if output_topics is None else dict(output_topics)
        self._state = ClientState.UNOPENED
        self._producer: AIOKafkaProducer | None = None
        self._followers: dict[str, Follower[Answer]] = {}
        self._waiting: dict[str, tuple[str, asyncio.Future[Answer]]] = {}

    # -- lifecycle ---------------------------------------------------------------------------------

    async def __aenter__(self) -> GraphfetchClient:
        await self.open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    @property
    def state(self) -> ClientState:
        return self._state

    async def open(self) -> None:
        """Connect the producer; opening an open client does nothing."""
        if self._state is ClientState.OPENED:
            return
        if self._state is ClientState.CLOSED:
            raise ClientError("this GraphfetchClient is closed; create a new one")
        producer = make_producer(self.settings, linger_ms=max(self.settings.linger_ms, 2))
        await producer.start()
        self._producer = producer
        self._state = ClientState.OPENED

    async def close(self) -> None:
        """Stop reading, fail what still waits, flush and stop the producer; safe to call twice."""
        if self._state is ClientState.CLOSED:
            return
        self._state = ClientState.CLOSED
        followers, self._followers = list(self._followers.values()), {}
        for follower in followers:
            await follower.stop()
        for _, waiter in self._waiting.values():
            if not waiter.done():
                waiter.set_exception(ClientError("the GraphfetchClient was closed while this request waited"))
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()

    # -- producing ---------------------------------------------------------------------------------

    def output_topic(self, pipeline: str) -> str:
        """The topic ``pipeline``'s profiles go to; :class:`UnknownPipeline` if the client knows it has none."""
        if self._output_topics is None:
            return DEFAULT_OUTPUT_TOPIC
        topic = self._output_topics.get(pipeline)
        if topic is None:
            raise UnknownPipeline(None, pipeline=pipeline, known=self._output_topics)
        return topic

    async def send(
        self,
        pipeline: str,
        *,
        keys: Mapping[str, str],
        fields: Sequence[str] | None = None,
        deadline_ms: float | None = None,
        request_id: str | None = None,
    ) -> str:
        """Send one request without waiting for its profile; its id once the broker has it."""
        self.output_topic(pipeline)
        request_id = request_id or f"{new_id_prefix()}-0"
        event = request_event(pipeline, keys, request_id=request_id, fields=fields, deadline_ms=deadline_ms)
        await (await self._publish(event))
        return request_id

    async def send_many(
        self,
        pipeline: str,
        *,
        keys: Mapping[str, str],
        count: int,
        fields: Sequence[str] | None = None,
        deadline_ms: float | None = None,
        rate: float | None = None,
        id_prefix: str | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> list[str]:
        """Send ``count`` requests, ``{i}`` in a key value being the request number (``C{i:05d}``),
        at ``rate`` per second if given; their ids (``<prefix>-<i>``) once the broker has them all."""
        self.output_topic(pipeline)
        prefix = id_prefix or new_id_prefix()
        started = time.monotonic()
        sent: list[asyncio.Future[RecordMetadata]] = []
        ids = []
        for i in range(count):
            if rate:
                delay = started + i / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)  # pacing, not synchronisation
            request_id = f"{prefix}-{i}"
            numbered = {name: expand_counter(value, i) for name, value in keys.items()}
            event = request_event(
                pipeline, numbered, request_id=request_id, fields=fields, deadline_ms=deadline_ms
            )
            sent.append(await self._publish(event))
            ids.append(request_id)
            if progress is not None:
                progress(1)
        await asyncio.gather(*sent)
        return ids

    def _opened_producer(self) -> AIOKafkaProducer:
        producer = self._producer
        if producer is None or self._state is not ClientState.OPENED:
            raise ClientError(
                "the GraphfetchClient is not open: use `async with GraphfetchClient(...)` or open()"
            )
        return producer

    async def _publish(self, event: RequestEvent) -> asyncio.Future[RecordMetadata]:
        producer = self._opened_producer()
        request_id = event.request_id or ""
        with tracer.start_as_current_span(
            f"send {event.pipeline}",
            kind=trace.SpanKind.PRODUCER,
            attributes={"graphfetch.request_id": request_id},
        ) as span:
            delivery: asyncio.Future[RecordMetadata] = await producer.send(
                self.settings.requests_topic,
                encode_request(event),
                key=request_id.encode(),
                headers=headers_for(span),
            )
        return delivery

    # -- request and answer ------------------------------------------------------------------------

    async def request(
        self,
        pipeline: str,
        *,
        keys: Mapping[str, str],
        fields: Sequence[str] | None = None,
        deadline_ms: float | None = None,
        request_id: str | None = None,
        timeout_s: float = 30.0,
    ) -> Profile:
        """Send one request and return its profile (whatever its status: check ``profile.status``).

        Raises :class:`UnknownPipeline` or :class:`RequestRefused` when graphfetch dead-letters it
        (with the reason), :class:`ProfileTimeout` when neither came within ``timeout_s``.
        """
        topic = self.output_topic(pipeline)
        self._opened_producer()  # before anything starts reading
        request_id = request_id or f"{new_id_prefix()}-0"
        event = request_event(pipeline, keys, request_id=request_id, fields=fields, deadline_ms=deadline_ms)
        waiter = self._expect(request_id, topic)
        try:
            async with asyncio.timeout(timeout_s):
                await (await self._publish(event))
                answer = await waiter
        except TimeoutError:
            raise ProfileTimeout(request_id, topic=topic, timeout_s=timeout_s) from None
        finally:
            self._waiting.pop(request_id, None)
        if isinstance(answer, DeadLetter):
            raise _refusal(request_id, pipeline, answer)
        return answer

    def _expect(self, request_id: str, topic: str) -> asyncio.Future[Answer]:
        if request_id in self._waiting:
            raise ClientError(
                f"request {request_id} is already awaited by this client; request ids must be unique"
            )
        self._follow(topic, decode=_as_profile)
        self._follow(self.settings.dlq_topic, decode=decode_dlq_record)
        waiter: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = (topic, waiter)
        return waiter

    def _follow(self, topic: str, *, decode: Callable[[bytes], tuple[str | None, Answer]]) -> None:
        follower = self._followers.get(topic)
        if follower is not None and follower.failed is None:
            return
        self._followers[topic] = Follower(
            self.settings,
            topic,
            since_ms=int(time.time() * 1000) - CLOCK_SKEW_MS,
            decode=decode,
            deliver=self._deliver,
            on_failure=self._reading_failed,
        )

    def _deliver(self, request_id: str, answer: Answer) -> None:
        entry = self._waiting.get(request_id)
        if entry is not None and not entry[1].done():
            entry[1].set_result(answer)

    def _reading_failed(self, topic: str, exc: BaseException) -> None:
        for waited_topic, waiter in self._waiting.values():
            if not waiter.done() and topic in (waited_topic, self.settings.dlq_topic):
                error = ClientError(f"cannot read {topic} on {self.settings.bootstrap}: {exc}")
                error.__cause__ = exc
                waiter.set_exception(error)

    # -- consuming ---------------------------------------------------------------------------------

    async def profiles(
        self,
        pipeline: str | None = None,
        *,
        topic: str | None = None,
        from_beginning: bool = False,
        follow: bool = True,
        idle_s: float = 1.0,
    ) -> AsyncIterator[Profile]:
        """The profiles on ``pipeline``'s output topic (or ``topic``), of that pipeline only when named:
        from now (the last :data:`CLOCK_SKEW_MS` included) or the beginning, for ever (or, without
        ``follow``, until none came for ``idle_s``).

        A record that is not a profile raises :class:`InvalidProfile` with its coordinates.
        """
        where = topic or (self.output_topic(pipeline) if pipeline is not None else DEFAULT_OUTPUT_TOPIC)
        since_ms = None if from_beginning else int(time.time() * 1000) - CLOCK_SKEW_MS
        async with WholeTopic(self.settings, where, since_ms=since_ms) as reader:
            async for records in reader.batches(idle_s=None if follow else idle_s):
                for record in records:
                    # A partition with nothing since then is read from its start (see WholeTopic).
                    if record.value is None or (since_ms is not None and record.timestamp < since_ms):
                        continue
                    try:
                        profile = decode_profile(record.value)
                    except ValueError as exc:
                        raise InvalidProfile(
                            topic=record.topic,
                            partition=record.partition,
                            offset=record.offset,
                            problem=str(exc),
                        ) from exc
                    if pipeline is None or profile.pipeline == pipeline:
                        yield profile

    async def records(
        self, topic: str, *, follow: bool = False, idle_s: float = 1.0
    ) -> AsyncIterator[tuple[bytes | None, bytes | None]]:
        """(key, value) of every record of ``topic`` from the beginning, as they are (any topic: the
        DLQ, an output topic); without ``follow``, until none came for ``idle_s``."""
        async with WholeTopic(self.settings, topic) as reader:
            async for records in reader.batches(idle_s=None if follow else idle_s):
                for record in records:
                    yield record.key, record.value


def _as_profile(value: bytes) -> tuple[str | None, Answer]:
    profile = decode_profile(value)
    return profile.request_id, profile


def _refusal(request_id: str, pipeline: str, letter: DeadLetter) -> RequestRefused:
    if letter.code in ("unknown_pipeline", "removed_pipeline"):
        return UnknownPipeline(request_id, pipeline=pipeline, reason=letter.reason, dead_letter=letter)
    return RequestRefused(request_id, code=letter.code, reason=letter.reason, dead_letter=letter)
