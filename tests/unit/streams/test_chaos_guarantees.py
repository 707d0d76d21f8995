"""``graphfetch chaos --guarantee``: which broker each guarantee runs on, and which duplicates it allows.

No broker is started: exactly-once on a broker without transactions is
refused before anything runs, in one line that says what to use instead.
"""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from devkit.chaos import guarantees
from devkit.chaos.command import worker_settings
from devkit.chaos.figures import ScenarioFigures, summarise
from devkit.chaos.guarantees import Guarantee, allowed_duplicates, broker_for
from streams.cli.main import app
from streams.cli.shared_options import BrokerKind


def test_chaos_refuses_exactly_once_on_tansu_in_one_line() -> None:
    result = CliRunner().invoke(app, ["chaos", "--guarantee", "exactly_once", "--broker", "tansu"])

    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "graphfetch chaos: --guarantee exactly_once needs a broker with transactions, and Tansu has none: "
        "use --broker kafka (or auto)"
    ]


def test_chaos_exactly_once_on_auto_without_kafka_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(guarantees, "kafka_available", lambda: False)

    result = CliRunner().invoke(app, ["chaos", "--guarantee", "exactly_once"])

    assert result.exit_code == 2
    [line] = result.output.strip().splitlines()
    assert "needs Apache Kafka" in line
    assert "scripts/kafka/fetch" in line


@pytest.mark.parametrize("installed", [True, False])
def test_auto_broker_is_kafka_for_exactly_once_and_as_usual_for_at_least_once(
    monkeypatch: pytest.MonkeyPatch, installed: bool
) -> None:
    monkeypatch.setattr(guarantees, "kafka_available", lambda: installed)
    monkeypatch.setattr("devkit.brokers.kafka_available", lambda: installed)

    usual = BrokerKind.KAFKA if installed else BrokerKind.TANSU
    assert broker_for(Guarantee.AT_LEAST_ONCE, BrokerKind.AUTO) is usual
    assert broker_for(Guarantee.AT_LEAST_ONCE, BrokerKind.TANSU) is BrokerKind.TANSU
    if installed:
        assert broker_for(Guarantee.EXACTLY_ONCE, BrokerKind.AUTO) is BrokerKind.KAFKA
    else:
        with pytest.raises(guarantees.UnsupportedGuarantee):
            broker_for(Guarantee.EXACTLY_ONCE, BrokerKind.AUTO)


def test_a_crash_excuses_duplicates_of_requests_in_flight_only_at_least_once() -> None:
    assert allowed_duplicates(guarantee=Guarantee.AT_LEAST_ONCE, crash=True, at_risk=3) == 3
    assert allowed_duplicates(guarantee=Guarantee.AT_LEAST_ONCE, crash=False, at_risk=3) == 0
    assert allowed_duplicates(guarantee=Guarantee.EXACTLY_ONCE, crash=True, at_risk=3) == 0


def figures(scenario: str, run: int, **counts: int | float | None) -> ScenarioFigures:
    defaults: dict[str, object] = {"sent": 100, "lost": 0, "duplicated": 0, "duplicates_allowed": 0}
    values = {**defaults, **counts}
    return ScenarioFigures.model_validate(
        {
            "scenario": scenario,
            "run": run,
            "fault": "a fault",
            "fault_s": 10.0,
            "rate": 30.0,
            "send_failures": 0,
            "received": 100,
            "in_flight_at_fault": 2,
            "statuses": {},
            "statuses_during": {},
            "statuses_after": {},
            "errors": {},
            "baseline_p99_ms": None,
            "fault_p99_ms": None,
            "after_p99_ms": None,
            "recovery_s": 1.0,
            "worker_rss_baseline_mb": None,
            "worker_rss_peak_mb": None,
            **values,
        }
    )


def test_summary_adds_up_the_runs_of_each_scenario_and_keeps_the_worst_recovery() -> None:
    rows = [
        figures("kill-worker", 1, recovery_s=4.0),
        figures("kill-worker", 2, recovery_s=None, duplicated=1),
        figures("kill-worker", 3, recovery_s=7.5, lost=2),
        figures("kill-all", 1, duplicated=2, duplicates_allowed=2),
    ]

    kill_worker, kill_all = summarise(rows)

    assert (kill_worker.scenario, kill_worker.runs, kill_worker.sent) == ("kill-worker", 3, 300)
    assert (kill_worker.lost, kill_worker.duplicated) == (2, 1)
    assert (kill_worker.worst_recovery_s, kill_worker.not_recovered) == (7.5, 1)
    assert kill_worker.within_guarantee == 1
    assert (kill_all.runs, kill_all.duplicated, kill_all.within_guarantee) == (1, 2, 1)


def test_a_request_answered_just_before_a_crash_may_be_answered_again_one_answered_long_before_may_not() -> (
    None
):
    from devkit.chaos.figures import Timeline, scenario_figures
    from devkit.chaos.guarantees import CRASH_WINDOW_S
    from devkit.chaos.profile_ledger import Seen
    from devkit.chaos.stream import Sent

    fault = 100.0
    answered = {  # request id -> when its profiles arrived
        "long-before": [fault - CRASH_WINDOW_S - 1.0],
        "just-before": [fault - CRASH_WINDOW_S / 2, fault + 5.0],  # answered twice around the crash
        "in-flight": [fault + 1.0, fault + 6.0],
    }
    sent = [Sent(request_id=rid, at=fault - 3.0) for rid in answered]
    seen = {
        rid: [Seen(status="complete", errors=(), arrived=at) for at in times]
        for rid, times in answered.items()
    }
    common: dict[str, object] = {
        "scenario": "kill-all",
        "fault": "SIGKILL",
        "fault_s": 10.0,
        "rate": 30.0,
        "sent": sent,
        "acked": set(answered),
        "send_failures": 0,
        "seen": seen,
        "timeline": Timeline(fault_start=fault, fault_end=fault + 10.0),
        "rss_samples": [],
        "notes": [],
    }

    at_least_once = scenario_figures(crash=True, guarantee=Guarantee.AT_LEAST_ONCE, **common)  # type: ignore[arg-type]
    exactly_once = scenario_figures(crash=True, guarantee=Guarantee.EXACTLY_ONCE, **common)  # type: ignore[arg-type]

    assert (at_least_once.in_flight_at_fault, at_least_once.duplicated) == (1, 2)
    assert at_least_once.duplicates_allowed == 2
    assert at_least_once.within_guarantee
    assert exactly_once.duplicates_allowed == 0
    assert not exactly_once.within_guarantee


@pytest.mark.parametrize(
    "pair", ["SESSION_TIMEOUT_MS=10000", "GRAPHFETCH_SESSION_TIMEOUT_MS", "GRAPHFETCH_=1"]
)
def test_chaos_refuses_a_worker_setting_that_is_not_graphfetch_name_value(pair: str) -> None:
    result = CliRunner().invoke(
        app, ["chaos", "--broker", "tansu", "--worker-env", pair], env={"COLUMNS": "200"}
    )

    assert result.exit_code == 2
    assert f"'{pair}' is not GRAPHFETCH_NAME=VALUE" in result.output


def test_worker_settings_keep_the_value_whole() -> None:
    assert worker_settings(["GRAPHFETCH_A=1", "GRAPHFETCH_DSN=x=y"]) == {
        "GRAPHFETCH_A": "1",
        "GRAPHFETCH_DSN": "x=y",
    }
