"""The streaming runtime under test: ``graphfetch worker`` processes on a broker, driven with aiokafka.

Every Kafka runtime of a run gets topics and consumer groups of its own (the
``GRAPHFETCH_*`` variables of its workers) and a configs folder whose
pipelines publish to its own output topic. It runs on a
:class:`~devkit.deployment.local.LocalDeployment`, which creates the topics
before the workers start, so a request produced at once is not lost to topic
auto-creation; start-up is timed from the first worker's spawn to the first
profile read back.
"""

from __future__ import annotations

import asyncio
import json

from aiokafka import AIOKafkaProducer

from devkit.bench.collector import Arrival, ProfileCollector
from devkit.bench.errors import KafkaRuntimeError
from devkit.bench.targets import Answer
from devkit.bench.workloads import REQUEST_DEADLINE_MS, Workload
from devkit.deployment.child import Child
from devkit.deployment.local import LocalDeployment
from devkit.deployment.usage import cpu_seconds
from planner import Pipeline
from streams.kafka.factory import make_producer

ANSWER_TIMEOUT_S = 60.0
START_TIMEOUT_S = 90.0


class KafkaRuntime:
    """``workers`` worker processes with every role, and a producer and collector to drive them."""

    def __init__(
        self,
        *,
        name: str,
        deployment: LocalDeployment,
        output_topic: str,
        pipelines: dict[str, Pipeline],
        workers: int,
    ) -> None:
        self.name = name
        self._deployment = deployment
        self.settings = deployment.settings
        self._pipelines = pipelines
        self._worker_count = workers
        self.send_failures = 0
        self._producer: AIOKafkaProducer | None = None
        self.collector = ProfileCollector(
            self.settings, topic=output_topic, partitions=self.settings.partitions
        )

    @property
    def workers(self) -> list[Child]:
        return self._deployment.workers.lives

    @property
    def worker_pids(self) -> list[int]:
        return self._deployment.workers.pids

    def worker_cpu_seconds(self) -> float:
        return cpu_seconds(self.worker_pids)

    async def start(self, *, probe: Workload, probe_key: str) -> float:
        """Create topics, start the workers, return seconds from the first spawn to the first profile."""
        await self._deployment.create_topics(self._pipelines.values())
        await self.collector.start()
        producer = make_producer(self.settings)
        await producer.start()
        self._producer = producer
        for number in range(1, self._worker_count + 1):
            self._deployment.spawn(f"{self.name}-worker-{number}")
        arrival = await self._answer(
            probe, key=probe_key, request_id=f"{self.name}-probe", timeout_s=START_TIMEOUT_S
        )
        return arrival.received_at - self.workers[0].spawned_at

    async def call(self, workload: Workload, *, key: str, request_id: str) -> Answer:
        arrival = await self._answer(workload, key=key, request_id=request_id, timeout_s=ANSWER_TIMEOUT_S)
        return Answer(status=arrival.status, profile_ms=arrival.latency_ms)

    async def _answer(self, workload: Workload, *, key: str, request_id: str, timeout_s: float) -> Arrival:
        producer = self._producer
        if producer is None:
            raise KafkaRuntimeError("the Kafka runtime is not started; call start() first")
        future = self.collector.expect(request_id)
        payload = {
            "request_id": request_id,
            "pipeline": workload.name,
            "keys": workload.keys(key),
            "deadline_ms": REQUEST_DEADLINE_MS,
        }
        delivery = await producer.send(
            self.settings.requests_topic, json.dumps(payload).encode(), key=request_id.encode()
        )
        delivery.add_done_callback(self._delivered)
        try:
            async with asyncio.timeout(timeout_s):
                return await self._watch(future)
        except TimeoutError:
            self.collector.forget(request_id)
            raise KafkaRuntimeError(
                f"request {request_id} got no profile within {timeout_s:g} s\n{self.logs()}"
            ) from None

    def _delivered(self, delivery: asyncio.Future[object]) -> None:
        if not delivery.cancelled() and delivery.exception() is not None:
            self.send_failures += 1

    async def _watch(self, future: asyncio.Future[Arrival]) -> Arrival:
        """The profile, or an error as soon as a worker or the collector dies."""
        while True:
            done, _ = await asyncio.wait({future}, timeout=1.0)
            if done:
                return future.result()
            dead = [w for w in self.workers if not w.alive]
            if dead:
                raise KafkaRuntimeError(f"a worker exited\n{self.logs()}")
            failure = self.collector.failure()
            if failure is not None:
                raise KafkaRuntimeError("the profile collector failed") from failure

    def logs(self) -> str:
        return self._deployment.logs()

    async def stop(self) -> None:
        """Workers first (they would otherwise retry against a stopped broker), then the clients."""
        await self._deployment.workers.stop()
        if self._producer is not None:
            producer, self._producer = self._producer, None
            await producer.stop()
        await self.collector.stop()

    async def __aenter__(self) -> KafkaRuntime:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()
