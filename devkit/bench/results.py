"""The figures of a bench run, as the JSON file stores them (``bench.json``). Times in milliseconds."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from devkit.bench.load import LoadResult
from devkit.bench.stats import Overhead, Summary


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class Machine(_Model):
    cpu: str
    cores: int
    memory_gib: float
    python: str
    platform: str
    brokers: list[str] = Field(
        description="The brokers the Kafka runtimes ran on, in order: 'kafka (local)', 'tansu (local)' "
        "or 'kafka at HOST:PORT' (a cluster given with --bootstrap)."
    )
    load_average_before: float = Field(description="1-minute load average when the run started.")
    load_average_after: float
    other_cores: float = Field(
        description="Mean CPU used during the run by processes other than the bench's."
    )
    worker_event_loop: str = Field(
        description="The workers' event loop; the floor and in-process run on asyncio's."
    )


class RuntimeLatency(_Model):
    """One runtime's single-request latency on one workload."""

    runtime: str
    e2e: Summary = Field(description="As the bench saw it (Kafka: produce -> profile read).")
    profile: Summary | None = Field(description="The profile's own timing (Kafka: intake -> publication).")
    not_complete: int


class SingleRequest(_Model):
    """Requests one at a time: latency without queueing, per runtime, and the overheads between them."""

    workload: str
    levels: int
    tasks: int
    critical_path_ms: float
    runtimes: list[RuntimeLatency]
    inprocess_over_floor: Overhead | None
    kafka_over_inprocess: dict[str, Overhead] = Field(
        default_factory=dict,
        description="Per Kafka runtime (kafka-1, tansu-2, ...), e2e latency less the in-process engine's.",
    )
    kafka_over_inprocess_per_level: dict[str, Overhead] = Field(default_factory=dict)
    kafka_over_floor: dict[str, Overhead] = Field(
        default_factory=dict, description="Per Kafka runtime, e2e latency less the floor's."
    )


class KafkaSweepPoint(_Model):
    """One generated graph on one Kafka runtime (1 worker)."""

    latency: Summary
    cpu_ms_per_request: float | None = Field(
        description="Worker CPU less its idle rate (None when noise made it negative)."
    )
    raw_cpu_ms_per_request: float | None = Field(description="Worker CPU, idle polling included.")
    broker_cpu_ms_per_request: float | None = Field(
        description="Broker CPU less its idle rate; None when not measured (--bootstrap) or below its idle rate."
    )


class SweepPoint(_Model):
    """One generated graph: latency one request at a time, CPU per request under a window in flight."""

    shape: str = Field(description="width or depth")
    size: int
    nodes: int
    levels: int
    floor: Summary | None
    inprocess: Summary | None
    inprocess_cpu_ms_per_request: float | None
    kafka: dict[str, KafkaSweepPoint] = Field(
        default_factory=dict, description="Per Kafka runtime measured on the sweep (kafka-1, tansu-1)."
    )


class Sweep(_Model):
    points: list[SweepPoint]
    kafka_ms_per_level: dict[str, Overhead] = Field(
        default_factory=dict,
        description="Per Kafka runtime, slope over depth of its e2e latency less in-process latency.",
    )
    inprocess_ms_per_level: float | None = Field(
        description="Slope over depth of in-process less floor, p50."
    )


class Memory(_Model):
    runtime: str
    in_flight: tuple[int, int]
    rss_mib: tuple[float, float, float] = Field(
        description="Before, with the first and with the second count in flight."
    )
    kib_per_request: float | None = Field(
        description="Slope between the two counts; None when RSS grew less than it resolves (see resolution_kib)."
    )
    resolution_kib: float = Field(
        description="The smallest growth between the two readings taken as a figure: below it the process "
        "served the requests from memory it had already freed, and RSS cannot tell what they hold."
    )
    settled: bool = Field(
        description="Each reading came after the process went idle, once its requests were taken in, "
        "and before any of them finished (else the reading is early or late)."
    )


class HopProbe(_Model):
    """One produce -> consume hop on the broker, by consumer fetch_max_wait_ms."""

    fetch_max_wait_ms: list[int]
    p50_ms: list[float]
    p99_ms: list[float]
    ack_p50_ms: list[float] = Field(description="The produce round trip of the same records (acks=all).")
    runtime_fetch_max_wait_ms: int = Field(
        description="The fetch wait of the runtimes on this broker (one of fetch_max_wait_ms)."
    )

    def hop_ms(self) -> float:
        """One hop at the runtimes' fetch wait (p50), after a random idle gap of up to that wait:
        what a record between graphfetch's processes costs on this broker when the upstream calls
        before it left them idle. A hop that follows at once costs less (after no idle gap about a
        third of one after 30 ms on a virtual machine: ``tests/bench_kafka_client.py``)."""
        return self.p50_ms[self.fetch_max_wait_ms.index(self.runtime_fetch_max_wait_ms)]

    def level_floor_ms(self) -> float:
        """What one dependency level costs on this broker before graphfetch does anything: two
        hops, its task out to a connector and its result back."""
        return 2.0 * self.hop_ms()


class Startup(_Model):
    runtime: str
    seconds: float = Field(description="First worker spawned -> first profile read.")


class Phase(_Model):
    name: str
    seconds: float
    other_cores: float = Field(
        description="CPU used meanwhile by processes other than the bench's, in cores."
    )


class TargetCheck(_Model):
    target: str
    measured: str = Field(
        description="The figure judged, on the judged broker where the target is a Kafka one."
    )
    passed: bool | None = Field(description="None when the run did not measure it or does not judge it.")
    beside: dict[str, str] = Field(
        default_factory=dict, description="The same figure on each other broker measured: shown, not judged."
    )


class Hedging(_Model):
    """customer360 one request at a time on a heavy-tailed upstream, with and without hedging."""

    tail: str = Field(description="The tail every HTTP service was given.")
    hedge_quantile: float
    hedge_budget: float
    requests: int = Field(description="Measured requests per arm (after a warm-up that fills the history).")
    without: Summary
    hedged: Summary
    not_complete: int
    upstream_calls_without: int = Field(description="Calls the demo upstreams counted (/_stats).")
    upstream_calls_hedged: int
    extra_calls_pct: float = Field(description="Extra upstream calls of the hedged arm, % of the other's.")
    hedged_fetches: int = Field(description="Fetches whose lineage says 'hedged after ...'.")


class RepeatArm(_Model):
    name: str
    upstream_calls: int
    saved_pct: float = Field(
        description="Upstream calls saved, % of requests (one call per request without)."
    )
    latency: Summary


class Repeats(_Model):
    """A one-node pipeline asked for few distinct keys, many requests in flight."""

    requests: int
    keys: int
    distribution: str
    window: int = Field(description="Requests in flight at once.")
    arms: list[RepeatArm]


class AdaptiveFigures(_Model):
    hedging: Hedging
    repeats: Repeats


class BenchReport(_Model):
    quick: bool
    machine: Machine
    command: str
    started_at: str
    duration_s: float
    single: list[SingleRequest]
    sweep: Sweep | None
    load: dict[str, LoadResult] = Field(description="Per runtime, the stepped open-loop load.")
    memory: list[Memory]
    startup: list[Startup]
    judged_broker: str | None = Field(
        description="The broker the Kafka targets are judged on: kafka when measured, else the one measured."
    )
    hops: dict[str, HopProbe] = Field(description="Per broker, the one-hop probe.")
    idle_cores: dict[str, float] = Field(description="CPU with no traffic: consumers polling, heartbeats.")
    targets: list[TargetCheck]
    adaptive: AdaptiveFigures | None = Field(
        None, description="Hedging, coalescing and caching against real upstream latency (in process)."
    )
    phases: list[Phase] = Field(description="Each phase of the run, in order.")
    notes: list[str]
