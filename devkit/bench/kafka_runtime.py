"""The streaming runtime under test: ``graphfetch worker`` processes on a broker, driven with aiokafka.

Every Kafka runtime of a run gets topics and consumer groups of its own (the
``GRAPHFETCH_*`` variables of its workers) and a configs folder whose
pipelines publish to its own output topic. The bench creates the topics
before the workers start, so a request produced at once is not lost to topic
auto-creation, and start-up is timed from the first worker's spawn to the
first profile read back.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path

from aiokafka import AIOKafkaProducer

from connectors import default_registry
from devkit.bench.collector import Arrival, ProfileCollector
from devkit.bench.errors import KafkaRuntimeError
from devkit.bench.processes import Child, cpu_seconds
from devkit.bench.targets import Answer
from devkit.bench.upstreams import SOURCE_VARIABLES
from devkit.bench.workloads import REQUEST_DEADLINE_MS, Workload
from planner import Pipeline
from streams.kafka.factory import make_producer
from streams.kafka.topics import ensure_topics
from streams.runtime.worker import topic_specs
from streams.settings import Settings

ANSWER_TIMEOUT_S = 60.0
START_TIMEOUT_S = 90.0


def worker_command() -> list[str]:
    """``graphfetch worker`` of this interpreter's environment."""
    script = Path(sys.executable).with_name("graphfetch")
    if script.exists():
        return [str(script), "worker"]
    return [sys.executable, "-c", "from streams.cli.main import main; main()", "worker"]


class KafkaRuntime:
    """``workers`` worker processes with every role, and a producer and collector to drive them."""

    def __init__(
        self,
        *,
        name: str,
        bootstrap: str,
        configs: Path,
        output_topic: str,
        pipelines: dict[str, Pipeline],
        env: Mapping[str, str],
        workdir: Path,
        workers: int,
    ) -> None:
        self.name = name
        self.settings = Settings(bootstrap=bootstrap, configs=configs).isolated(name)
        self._output_topic = output_topic
        self._pipelines = pipelines
        self._env = env
        self._workdir = workdir
        self._worker_count = workers
        self.workers: list[Child] = []
        self.send_failures = 0
        self._producer: AIOKafkaProducer | None = None
        self.collector = ProfileCollector(
            self.settings, topic=output_topic, partitions=self.settings.partitions
        )

    @property
    def worker_pids(self) -> list[int]:
        return [w.pid for w in self.workers]

    def worker_cpu_seconds(self) -> float:
        return cpu_seconds(self.worker_pids)

    def _worker_env(self) -> dict[str, str]:
        s = self.settings
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("GRAPHFETCH_", "OTEL_")) and k not in SOURCE_VARIABLES
        }
        env.update(self._env)
        env.update({**s.deployment_env(), "OTEL_SDK_DISABLED": "true"})
        return env

    async def start(self, *, probe: Workload, probe_key: str) -> float:
        """Create topics, start the workers, return seconds from the first spawn to the first profile."""
        specs = topic_specs(self.settings, self._pipelines.values(), default_registry().names())
        await ensure_topics(self.settings.bootstrap, specs, **self.settings.kafka_security_options())
        await self.collector.start()
        producer = make_producer(self.settings)
        await producer.start()
        self._producer = producer
        env = self._worker_env()
        argv = [*worker_command(), "--log-level", "WARNING"]
        for number in range(1, self._worker_count + 1):
            worker_name = f"{self.name}-worker-{number}"
            log_path = self._workdir / f"{worker_name}.log"
            self.workers.append(Child.spawn(worker_name, argv, env=env, cwd=self._workdir, log_path=log_path))
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
        return "\n".join(w.log_tail() for w in self.workers)

    async def stop(self) -> None:
        """Workers first (they would otherwise retry against a stopped broker), then the clients."""
        await asyncio.gather(*(w.stop() for w in self.workers))
        if self._producer is not None:
            producer, self._producer = self._producer, None
            await producer.stop()
        await self.collector.stop()

    async def __aenter__(self) -> KafkaRuntime:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()
