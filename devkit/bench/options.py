"""What a bench run measures and how much: the runtimes, the brokers, and the sizes of ``--quick`` and a full run."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from streams.cli.shared_options import BrokerKind

RuntimeName = Literal["floor", "inprocess", "kafka"]
RUNTIMES: tuple[RuntimeName, ...] = ("floor", "inprocess", "kafka")
ALL_BROKERS = "all"
"""``--broker all``: every local broker this machine can run (Apache Kafka where installed, and Tansu)."""
BROKER_CHOICES = (BrokerKind.KAFKA.value, BrokerKind.TANSU.value, BrokerKind.AUTO.value, ALL_BROKERS)


@dataclass(frozen=True, kw_only=True)
class Sizes:
    """How many requests, which graphs and which offered loads one run uses."""

    single_requests: int
    """Requests issued one at a time per runtime and workload, for single-request latency."""
    warmup_requests: int
    """Requests per workload before measuring: connections, pools and caches warm."""
    widths: tuple[int, ...]
    depths: tuple[int, ...]
    sweep_requests: int
    """Requests one at a time per generated graph, for its latency."""
    sweep_burst: int
    """Requests per generated graph issued with ``sweep_window`` in flight, for CPU per request."""
    sweep_window: int
    load_rates: tuple[int, ...]
    """Offered loads (requests/s), stepped up until one does not hold."""
    load_step_s: float
    memory_in_flight: tuple[int, int]
    """Two numbers of requests held in flight; memory per request is the slope between them."""
    hop_waits_ms: tuple[int, ...]
    """Consumer ``fetch_max_wait_ms`` values of the one-hop probe."""
    hop_messages: int
    hold_ms: float
    """How long the memory workload's fetches sleep: the requests stay in flight meanwhile."""
    fresh_deployments: bool = True
    """A new broker and workers for each group of Kafka measurements (see :mod:`devkit.bench.streaming`)."""
    kafka_workers: tuple[int, ...] = (1, 2)
    min_warmup_s: float = 1.0
    """Shortest closed-loop warm-up of a Kafka runtime (rebalances settle in it)."""
    hedge_requests: int = 1000
    """customer360 requests one at a time per arm (with and without hedging) on a heavy tail."""
    repeat_requests: int = 400
    """Requests per arm of the repeated-key workload (coalescing, cache)."""
    repeat_keys: int = 20
    repeat_window: int = 16
    """Repeated-key requests in flight at once."""


QUICK = Sizes(
    single_requests=20,
    warmup_requests=3,
    widths=(1, 4, 16, 64),
    depths=(1, 4, 16),
    sweep_requests=6,
    sweep_burst=40,
    sweep_window=16,
    load_rates=(50, 100, 200, 400, 800),
    load_step_s=1.0,
    memory_in_flight=(50, 150),
    hop_waits_ms=(5, 20),
    hop_messages=15,
    hold_ms=3_000.0,
    min_warmup_s=1.0,
    fresh_deployments=False,
    hedge_requests=120,
)

FULL = Sizes(
    single_requests=200,
    warmup_requests=20,
    widths=(1, 2, 4, 8, 16, 32, 64),
    depths=(1, 2, 4, 8, 16),
    sweep_requests=100,
    sweep_burst=200,
    sweep_window=32,
    load_rates=(50, 100, 200, 400, 800, 1200),
    load_step_s=5.0,
    memory_in_flight=(100, 250),
    hop_waits_ms=(5, 10, 20, 50),
    hop_messages=60,
    hold_ms=5_000.0,
    min_warmup_s=4.0,
)


@dataclass(frozen=True, kw_only=True)
class BenchOptions:
    """Everything ``graphfetch bench`` takes."""

    quick: bool = False
    out: Path = Path("bench-results")
    only: frozenset[RuntimeName] = field(default_factory=lambda: frozenset(RUNTIMES))
    bootstrap: str | None = None
    """A running Kafka cluster to use instead of starting local brokers (taken to be Apache Kafka)."""
    brokers: tuple[BrokerKind, ...] = (BrokerKind.TANSU,)
    """The local brokers measured in turn when no ``bootstrap`` is given, ``auto`` resolved
    (:func:`parse_brokers`)."""
    pipeline_file: Path | None = None
    """customer360.yaml to copy (default: the checkout's ``configs/customer360.yaml``)."""
    progress: bool = True
    seed: int = 7
    command: str = "graphfetch bench"
    """How the run was asked for, recorded in the report so it can be reproduced."""
    custom_sizes: Sizes | None = None
    """Other sizes than ``--quick``'s or a full run's (tests, experiments)."""

    @property
    def sizes(self) -> Sizes:
        if self.custom_sizes is not None:
            return self.custom_sizes
        return QUICK if self.quick else FULL

    def wants(self, runtime: RuntimeName) -> bool:
        return runtime in self.only

    @property
    def measured_brokers(self) -> tuple[MeasuredBroker, ...]:
        """The brokers the Kafka runtimes run on, in the order measured."""
        if self.bootstrap is not None:
            return (MeasuredBroker(label=BrokerKind.KAFKA.value, kind=None, where=self.bootstrap),)
        return tuple(MeasuredBroker(label=kind.value, kind=kind, where="local") for kind in self.brokers)


@dataclass(frozen=True, kw_only=True)
class MeasuredBroker:
    """A broker the Kafka runtimes are measured on; its label names them (``kafka-1``, ``tansu-2``)."""

    label: str
    """``kafka`` (Apache Kafka, or the cluster given with ``--bootstrap``) or ``tansu``."""
    kind: BrokerKind | None
    """The local broker started per group of measurements; None: the ``--bootstrap`` cluster."""
    where: str
    """``local`` or the bootstrap servers."""

    def runtime(self, workers: int) -> str:
        """The name of the Kafka runtime with ``workers`` worker processes on this broker."""
        return f"{self.label}-{workers}"

    @property
    def owned(self) -> bool:
        """Whether the bench starts this broker (and so can read its CPU)."""
        return self.kind is not None


def parse_brokers(text: str | None, *, quick: bool, kafka_installed: bool) -> tuple[BrokerKind, ...]:
    """``--broker`` -> the local brokers to measure in turn, each ``kafka`` or ``tansu``.

    ``auto`` is Apache Kafka where installed, else Tansu; ``all`` is both where Kafka is
    installed, else Tansu. Without the option a full run measures ``all`` and ``--quick``
    ``auto``: the reference run puts Tansu beside Kafka, the quick one stays short.
    """
    items = [part.strip() for part in (text or "").split(",") if part.strip()]
    if not items:
        items = [BrokerKind.AUTO.value if quick else ALL_BROKERS]
    chosen: list[BrokerKind] = []
    for item in items:
        if item not in BROKER_CHOICES:
            raise ValueError(f"--broker: unknown broker {item!r}: choose from {', '.join(BROKER_CHOICES)}")
        if item == ALL_BROKERS:
            kinds = [BrokerKind.KAFKA, BrokerKind.TANSU] if kafka_installed else [BrokerKind.TANSU]
        elif item == BrokerKind.AUTO.value:
            kinds = [BrokerKind.KAFKA if kafka_installed else BrokerKind.TANSU]
        else:
            kinds = [BrokerKind(item)]
        chosen += [kind for kind in kinds if kind not in chosen]
    return tuple(chosen)


def parse_only(text: str | None) -> frozenset[RuntimeName]:
    """``floor,inprocess`` -> those runtimes; None or empty -> all of them."""
    if not text:
        return frozenset(RUNTIMES)
    chosen: set[RuntimeName] = set()
    for item in (part.strip() for part in text.split(",")):
        matched = [r for r in RUNTIMES if r == item]
        if not matched:
            raise ValueError(f"--only: unknown runtime {item!r}: choose from {', '.join(RUNTIMES)}")
        chosen.add(matched[0])
    return frozenset(chosen)
