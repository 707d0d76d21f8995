"""The chaos figures of a made-up run: recovery, served again, upstream calls per request.

A worker SIGKILLed at t=10 and restarted at t=10: requests sent in the two
seconds after the kill come back ``partial``; from t=12 on every one is
``complete`` again at its usual latency.
"""

from __future__ import annotations

import pytest

from devkit.chaos.figures import ScenarioFigures, Timeline, UpstreamCalls, scenario_figures
from devkit.chaos.profile_ledger import Seen
from devkit.chaos.stream import Sent

_LATENCY_S = 0.05


def _figures(
    *, partial_until: float, fault_end: float, calls: UpstreamCalls | None = None
) -> ScenarioFigures:
    """The figures of a run whose fault started at t=10 and whose requests sent from then until
    ``partial_until`` came back ``partial``."""
    sent, seen = [], {}
    for tenth in range(200):  # 10 requests a second for 20 s
        at = tenth / 10
        request_id = f"r{tenth}"
        sent.append(Sent(request_id=request_id, at=at))
        status = "partial" if 10.0 <= at < partial_until else "complete"
        seen[request_id] = [Seen(status=status, errors=(), arrived=at + _LATENCY_S)]
    return scenario_figures(
        scenario="a fault",
        fault="SIGKILL",
        fault_s=fault_end - 10.0,
        rate=10.0,
        sent=sent,
        acked={s.request_id for s in sent},
        send_failures=0,
        seen=seen,
        timeline=Timeline(fault_start=10.0, fault_end=fault_end),
        rss_samples=[],
        upstream_calls=calls,
        notes=[],
    )


def test_served_again_counts_from_the_fault_start_and_recovery_from_its_end() -> None:
    figures = _figures(partial_until=12.0, fault_end=10.5, calls=UpstreamCalls(before_fault=500, total=1_150))

    assert figures.served_again_s == pytest.approx(2.05)
    assert figures.recovery_s == pytest.approx(1.55)
    assert figures.calls_per_request_baseline == 5.0
    assert figures.calls_per_request_from_fault == 6.5
    assert figures.statuses_after == {"complete": 80, "partial": 15}


def test_a_run_never_served_complete_again_has_neither_figure() -> None:
    figures = _figures(partial_until=30.0, fault_end=11.0)

    assert figures.served_again_s is None
    assert figures.recovery_s is None
    assert figures.calls_per_request_baseline is None
