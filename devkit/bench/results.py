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
    broker: str = Field(
        description="'kafka (local)', 'tansu (local)' or the bootstrap servers of the cluster used."
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
        default_factory=dict, description="Per Kafka runtime, e2e latency less the in-process engine's."
    )
    kafka_over_inprocess_per_level: dict[str, Overhead] = Field(default_factory=dict)


class SweepPoint(_Model):
    """One generated graph: latency one request at a time, CPU per request under a window in flight."""

    shape: str = Field(description="width or depth")
    size: int
    nodes: int
    levels: int
    floor: Summary | None
    inprocess: Summary | None
    kafka: Summary | None
    inprocess_cpu_ms_per_request: float | None
    kafka_cpu_ms_per_request: float | None = Field(
        description="Worker CPU less its idle rate (None when noise made it negative)."
    )
    kafka_raw_cpu_ms_per_request: float | None = Field(description="Worker CPU, idle polling included.")
    broker_cpu_ms_per_request: float | None


class Sweep(_Model):
    points: list[SweepPoint]
    kafka_ms_per_level: Overhead | None = Field(
        description="Slope over depth of Kafka e2e latency less in-process latency."
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
    kib_per_request: float = Field(description="Slope between the two counts.")
    settled: bool = Field(
        description="The process went idle before each reading (else the reading is early)."
    )


class HopProbe(_Model):
    """One produce -> consume hop on the broker, by consumer fetch_max_wait_ms."""

    fetch_max_wait_ms: list[int]
    p50_ms: list[float]
    p99_ms: list[float]
    ack_p50_ms: list[float] = Field(description="The produce round trip of the same records (acks=all).")

    def fetch_wait_ms(self, fetch_max_wait_ms: int) -> float | None:
        """Median hop less median ack at ``fetch_max_wait_ms``: the part Apache Kafka does not pay."""
        if fetch_max_wait_ms not in self.fetch_max_wait_ms:
            return None
        i = self.fetch_max_wait_ms.index(fetch_max_wait_ms)
        return max(0.0, self.p50_ms[i] - self.ack_p50_ms[i])


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
    measured: str
    passed: bool | None = Field(description="None when the run did not measure it.")


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
    hops: HopProbe | None
    idle_cores: dict[str, float] = Field(description="CPU with no traffic: consumers polling, heartbeats.")
    targets: list[TargetCheck]
    adaptive: AdaptiveFigures | None = Field(
        None, description="Hedging, coalescing and caching against real upstream latency (in process)."
    )
    phases: list[Phase] = Field(description="Each phase of the run, in order.")
    notes: list[str]
