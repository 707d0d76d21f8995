"""What a scenario's clients saw, counted from the requests sent and the profiles received.

Windows are by *send* time: ``baseline`` before the fault, ``fault`` while it
lasts, ``after`` once it is cleared. Latency is the client's: from handing the
request to the producer to reading its first profile.

Recovery is how long after the fault's end the clients were served normally
again: requests are grouped into one-second buckets by send time from the
fault's start on; a bucket is healthy when every request in it got a
``complete`` first profile and its median latency is at most
``max(2 x baseline p99, baseline p99 + 250 ms)``. The recovery point is the
first profile of the run of healthy buckets that lasts to the end of the
stream; ``None`` when the last bucket is still unhealthy. *Served again* is
how long after the fault's start the first healthy bucket's first profile
came: after a worker's SIGKILL, when the partitions it owned were served again
(by the survivors, or by the worker restarted as the same static member).

A run is within the guarantee when nothing was lost and at most
``duplicates_allowed`` requests were duplicated
(:func:`~devkit.chaos.guarantees.allowed_duplicates`: none under exactly-once).
:func:`summarise` adds up the runs of each scenario (``--repeat``).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from devkit.bench.stats import percentile
from devkit.chaos.guarantees import CRASH_WINDOW_S, Guarantee, allowed_duplicates
from devkit.chaos.profile_ledger import Seen
from devkit.chaos.stream import Sent

_BUCKET_S = 1.0
_MIN_SLACK_MS = 250.0
_MB = 1024 * 1024


class ScenarioFigures(BaseModel):
    """One scenario's row of the chaos table (every count over requests the broker acknowledged)."""

    model_config = ConfigDict(frozen=True)

    scenario: str
    run: int = Field(1, description="Which run of the scenario this is, from 1 (``--repeat``).")
    fault: str
    fault_s: float = Field(description="How long the fault lasted.")
    rate: float = Field(description="Requests per second offered.")
    sent: int = Field(description="Requests the broker acknowledged.")
    send_failures: int = Field(description="Requests the broker never acknowledged (not counted as sent).")
    received: int = Field(description="Sent requests with at least one profile.")
    lost: int = Field(description="Sent requests with no profile by the end of the drain.")
    duplicated: int = Field(description="Request ids with more than one profile.")
    duplicates_allowed: int = Field(
        0,
        description="Duplicated requests the guarantee allows this run: at least once, those in flight at a "
        "crash or answered in the second before it (guarantees.CRASH_WINDOW_S); exactly once, none.",
    )
    in_flight_at_fault: int = Field(description="Sent before the fault, first answered after its start.")
    statuses: dict[str, int] = Field(description="First profiles by status, every request.")
    statuses_during: dict[str, int] = Field(
        description="First profiles by status, requests sent during the fault."
    )
    statuses_after: dict[str, int] = Field(description="First profiles by status, requests sent after it.")
    errors: dict[str, int] = Field(
        description="``<node>:<kind>`` errors of the first profiles, every request."
    )
    baseline_p99_ms: float | None
    fault_p99_ms: float | None
    after_p99_ms: float | None
    recovery_s: float | None = Field(description="Fault end until clients were served normally again.")
    served_again_s: float | None = Field(
        None,
        description="Fault start until the first second whose requests were all served complete at normal "
        "latency: after a SIGKILL, until the dead worker's partitions were served again.",
    )
    calls_per_request_baseline: float | None = Field(
        None, description="HTTP upstream calls (the upstreams' own count) per request sent before the fault."
    )
    calls_per_request_from_fault: float | None = Field(
        None, description="HTTP upstream calls per request sent from the fault's start on (replays included)."
    )
    worker_rss_baseline_mb: float | None = Field(description="Peak summed worker RSS before the fault.")
    worker_rss_peak_mb: float | None = Field(description="Peak summed worker RSS over the whole run.")
    notes: list[str] = Field(default_factory=list)

    @property
    def within_guarantee(self) -> bool:
        """Nothing lost, and no more duplicated than the guarantee allows."""
        return self.lost == 0 and self.duplicated <= self.duplicates_allowed

    def share(self, status: str, *, window: Literal["all", "during", "after"] = "all") -> float:
        """The share of first profiles with ``status`` among the requests of ``window`` (0 when none)."""
        counts = {"all": self.statuses, "during": self.statuses_during, "after": self.statuses_after}[window]
        return counts.get(status, 0) / max(1, sum(counts.values()))


class ScenarioSummary(BaseModel):
    """Every run of one scenario added up."""

    model_config = ConfigDict(frozen=True)

    scenario: str
    runs: int
    sent: int = Field(description="Acknowledged requests, every run.")
    lost: int
    duplicated: int
    worst_recovery_s: float | None = Field(description="The longest recovery among the runs that recovered.")
    not_recovered: int = Field(description="Runs whose clients were not served normally again by the end.")
    within_guarantee: int = Field(description="Runs with nothing lost and no duplicate beyond the allowed.")


def summarise(rows: Iterable[ScenarioFigures]) -> list[ScenarioSummary]:
    """One summary per scenario, in the order the scenarios first appear."""
    by_scenario: dict[str, list[ScenarioFigures]] = {}
    for row in rows:
        by_scenario.setdefault(row.scenario, []).append(row)
    summaries = []
    for scenario, runs in by_scenario.items():
        recoveries = [r.recovery_s for r in runs if r.recovery_s is not None]
        summaries.append(
            ScenarioSummary(
                scenario=scenario,
                runs=len(runs),
                sent=sum(r.sent for r in runs),
                lost=sum(r.lost for r in runs),
                duplicated=sum(r.duplicated for r in runs),
                worst_recovery_s=max(recoveries) if recoveries else None,
                not_recovered=len(runs) - len(recoveries),
                within_guarantee=sum(1 for r in runs if r.within_guarantee),
            )
        )
    return summaries


@dataclass(frozen=True, kw_only=True)
class Timeline:
    """When the scenario's phases began and ended (``time.monotonic()``)."""

    fault_start: float
    fault_end: float


@dataclass(frozen=True, slots=True)
class _Request:
    sent_at: float
    first: Seen | None

    @property
    def latency_ms(self) -> float | None:
        return None if self.first is None else (self.first.arrived - self.sent_at) * 1000.0

    @property
    def complete(self) -> bool:
        return self.first is not None and self.first.status == "complete"


def _unanswered_at(requests: Iterable[_Request], moment: float) -> int:
    """Requests with no profile yet at ``moment`` (``time.monotonic()``)."""
    return sum(1 for r in requests if r.first is None or r.first.arrived >= moment)


def _p99(requests: Iterable[_Request]) -> float | None:
    latencies = [r.latency_ms for r in requests if r.latency_ms is not None]
    return percentile(latencies, 0.99) if latencies else None


def _statuses(requests: Iterable[_Request]) -> dict[str, int]:
    return dict(Counter(r.first.status if r.first else "none" for r in requests))


def _errors(requests: Iterable[_Request]) -> dict[str, int]:
    counts = Counter(kind for r in requests if r.first for kind in r.first.errors)
    return dict(counts.most_common())


@dataclass(frozen=True)
class UpstreamCalls:
    """The demo upstreams' call counters, zeroed as the stream starts: read at the fault's start,
    and once every profile is in."""

    before_fault: int
    total: int


@dataclass(frozen=True)
class Recovery:
    """When clients were served normally again (module docstring), in seconds."""

    after_fault_end: float | None
    served_again: float | None
    """From the fault's start."""


def recovery(requests: Sequence[_Request], *, timeline: Timeline, threshold_ms: float) -> Recovery:
    """See the module docstring; ``requests`` in send order."""
    buckets: dict[int, list[_Request]] = {}
    for r in requests:
        if r.sent_at >= timeline.fault_start:
            buckets.setdefault(int((r.sent_at - timeline.fault_start) // _BUCKET_S), []).append(r)
    healthy_since: int | None = None
    first_healthy: int | None = None
    for index in sorted(buckets):
        bucket = buckets[index]
        latencies = [r.latency_ms for r in bucket if r.latency_ms is not None]
        healthy = all(r.complete for r in bucket) and percentile(latencies, 0.5) <= threshold_ms
        if not healthy:
            healthy_since = None
        elif healthy_since is None:
            healthy_since = index
            first_healthy = index if first_healthy is None else first_healthy

    def first_profile_from(start: int | None, since: float) -> float | None:
        if start is None:
            return None
        arrivals = [r.first.arrived for i in buckets if i >= start for r in buckets[i] if r.first]
        return max(0.0, min(arrivals) - since)

    return Recovery(
        after_fault_end=first_profile_from(healthy_since, timeline.fault_end),
        served_again=first_profile_from(first_healthy, timeline.fault_start),
    )


def _per(calls: int, requests: Sequence[_Request]) -> float | None:
    return calls / len(requests) if requests else None


def rss_figures(
    samples: Sequence[tuple[float, int]], fault_start: float
) -> tuple[float | None, float | None]:
    """Peak worker RSS before the fault and over the run, in MB."""
    before = [rss for at, rss in samples if at < fault_start]
    peak = [rss for _, rss in samples]
    return (max(before) / _MB if before else None, max(peak) / _MB if peak else None)


def scenario_figures(
    *,
    scenario: str,
    run: int = 1,
    crash: bool = False,
    guarantee: Guarantee = Guarantee.AT_LEAST_ONCE,
    fault: str,
    fault_s: float,
    rate: float,
    sent: Sequence[Sent],
    acked: set[str],
    send_failures: int,
    seen: Mapping[str, list[Seen]],
    timeline: Timeline,
    rss_samples: Sequence[tuple[float, int]],
    upstream_calls: UpstreamCalls | None = None,
    notes: list[str],
) -> ScenarioFigures:
    requests = [
        _Request(s.at, seen[s.request_id][0] if s.request_id in seen else None)
        for s in sent
        if s.request_id in acked
    ]
    ids = [s.request_id for s in sent if s.request_id in acked]
    baseline = [r for r in requests if r.sent_at < timeline.fault_start]
    during = [r for r in requests if timeline.fault_start <= r.sent_at < timeline.fault_end]
    after = [r for r in requests if r.sent_at >= timeline.fault_end]
    baseline_p99 = _p99(baseline)
    threshold = max(2 * baseline_p99, baseline_p99 + _MIN_SLACK_MS) if baseline_p99 is not None else math.inf
    rss_baseline, rss_peak = rss_figures(rss_samples, timeline.fault_start)
    in_flight_at_fault = _unanswered_at(baseline, timeline.fault_start)
    at_risk = _unanswered_at(baseline, timeline.fault_start - CRASH_WINDOW_S)
    recovered = recovery(requests, timeline=timeline, threshold_ms=threshold)
    return ScenarioFigures(
        scenario=scenario,
        run=run,
        fault=fault,
        fault_s=fault_s,
        rate=rate,
        sent=len(requests),
        send_failures=send_failures,
        received=sum(1 for r in requests if r.first is not None),
        lost=sum(1 for r in requests if r.first is None),
        duplicated=sum(1 for i in ids if len(seen.get(i, ())) > 1),
        duplicates_allowed=allowed_duplicates(guarantee=guarantee, crash=crash, at_risk=at_risk),
        in_flight_at_fault=in_flight_at_fault,
        statuses=_statuses(requests),
        statuses_during=_statuses(during),
        statuses_after=_statuses(after),
        errors=_errors(requests),
        baseline_p99_ms=baseline_p99,
        fault_p99_ms=_p99(during),
        after_p99_ms=_p99(after),
        recovery_s=recovered.after_fault_end,
        served_again_s=recovered.served_again,
        calls_per_request_baseline=_per(upstream_calls.before_fault, baseline) if upstream_calls else None,
        calls_per_request_from_fault=(
            _per(upstream_calls.total - upstream_calls.before_fault, [*during, *after])
            if upstream_calls
            else None
        ),
        worker_rss_baseline_mb=rss_baseline,
        worker_rss_peak_mb=rss_peak,
        notes=notes,
    )
