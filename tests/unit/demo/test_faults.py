"""Fault settings, their merge rules, the seeded fault decisions and the call counters."""

from __future__ import annotations

import pytest
from pydantic import SecretStr, ValidationError

from devkit.demo import SERVICES, DemoSettings, FaultSettings
from devkit.demo.call_counts import StatsBook
from devkit.demo.faults import FaultInjector


def test_default_knobs_describe_a_healthy_service() -> None:
    knobs = FaultSettings()
    assert (knobs.latency_ms, knobs.error_rate, knobs.down) == (0.0, 0.0, False)
    assert (knobs.hang_ms, knobs.tail_factor) == (30_000.0, 10.0)


def test_default_faults_apply_to_all_services_and_entries_override_only_what_they_set() -> None:
    settings = DemoSettings(
        faults={
            "default": FaultSettings(latency_ms=20, error_rate=0.1),
            "risk": FaultSettings(error_rate=0.5),
        }
    )
    assert settings.faults_for("crm") == FaultSettings(latency_ms=20, error_rate=0.1)
    assert settings.faults_for("risk") == FaultSettings(latency_ms=20, error_rate=0.5)


@pytest.mark.parametrize(
    "knobs",
    [{"error_rate": 1.5}, {"hang_rate": -0.1}, {"latency_ms": -1}, {"tail_factor": 0.9}, {"delay": 3}],
)
def test_out_of_range_or_unknown_knobs_are_rejected(knobs: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        FaultSettings.model_validate(knobs)


def test_faults_for_an_unknown_service_are_rejected_with_the_choices() -> None:
    with pytest.raises(ValidationError, match=r"billing.*choose from default, crm"):
        DemoSettings(faults={"billing": FaultSettings(down=True)})


def test_settings_default_to_loopback_8700_5000_customers_and_demo_token() -> None:
    settings = DemoSettings()
    assert (settings.host, settings.port, settings.customers) == ("127.0.0.1", 8700, 5_000)
    assert settings.token.get_secret_value() == "demo"
    assert settings.db_url == "sqlite+aiosqlite:///demo.db"


def test_the_token_is_masked_when_settings_are_printed() -> None:
    settings = DemoSettings(token=SecretStr("s3cret"))
    assert "s3cret" not in repr(settings)
    assert "s3cret" not in settings.model_dump_json()


def test_same_seed_gives_the_same_decisions() -> None:
    settings = DemoSettings(seed=7, faults={"default": FaultSettings(jitter_ms=100, error_rate=0.5)})
    first, second = FaultInjector(settings), FaultInjector(settings)
    assert [first.decide("crm") for _ in range(50)] == [second.decide("crm") for _ in range(50)]


def test_one_service_traffic_does_not_shift_another_services_draws() -> None:
    settings = DemoSettings(faults={"default": FaultSettings(error_rate=0.5)})
    quiet, busy = FaultInjector(settings), FaultInjector(settings)
    for _ in range(25):
        busy.decide("orders")
    assert [quiet.decide("crm") for _ in range(20)] == [busy.decide("crm") for _ in range(20)]


def test_reset_restores_start_knobs_and_restarts_the_draws() -> None:
    injector = FaultInjector(DemoSettings(faults={"crm": FaultSettings(error_rate=0.5)}))
    before = [injector.decide("crm") for _ in range(10)]
    injector.update(["crm"], {"down": True})
    injector.reset()
    assert injector.knobs()["crm"] == FaultSettings(error_rate=0.5)
    assert [injector.decide("crm") for _ in range(10)] == before


def test_update_merges_and_rejects_bad_values_without_changing_anything() -> None:
    injector = FaultInjector(DemoSettings())
    injector.update(["crm"], {"latency_ms": 5})
    injector.update(["crm"], {"jitter_ms": 2})
    assert injector.knobs()["crm"] == FaultSettings(latency_ms=5, jitter_ms=2)
    with pytest.raises(ValidationError):
        injector.update(SERVICES, {"latency_ms": 1, "error_rate": 9})
    assert injector.knobs()["orders"] == FaultSettings()


def test_decisions_follow_the_knobs() -> None:
    injector = FaultInjector(DemoSettings())
    injector.update(["crm"], {"latency_ms": 50, "tail_rate": 1.0, "tail_factor": 4})
    assert injector.decide("crm").delay_ms == 200
    injector.update(["crm"], {"hang_rate": 1.0, "hang_ms": 900})
    assert injector.decide("crm").delay_ms == 900
    injector.update(["crm"], {"down": True})
    decision = injector.decide("crm")
    assert (decision.delay_ms, decision.fail, decision.down) == (0.0, True, True)
    injector.update(["risk"], {"error_rate": 1.0, "latency_ms": 10, "jitter_ms": 10})
    decision = injector.decide("risk")
    assert decision.fail
    assert 10 <= decision.delay_ms <= 20


def test_beyond_its_capacity_a_service_slows_every_call_in_proportion() -> None:
    injector = FaultInjector(DemoSettings(faults={"crm": FaultSettings(latency_ms=40, capacity=4)}))
    assert [injector.decide("crm", in_flight=n).delay_ms for n in (1, 4, 5, 8, 12)] == [40, 40, 50, 80, 120]
    assert injector.decide("orders", in_flight=100).delay_ms == 0, "no capacity: unlimited"
    with pytest.raises(ValidationError):
        FaultSettings(capacity=0)


def test_stats_track_calls_errors_and_peak_concurrency() -> None:
    book = StatsBook()
    for _ in range(3):
        book.enter("crm")
    book.leave("crm", failed=True)
    book.leave("crm", failed=False)
    assert book.snapshot()["crm"] == {"calls": 3, "errors": 1, "in_flight": 1, "max_in_flight": 3}
    book.reset()
    assert book.snapshot()["crm"] == {"calls": 0, "errors": 0, "in_flight": 1, "max_in_flight": 1}
    book.leave("crm", failed=False)
    assert book.snapshot()["crm"]["in_flight"] == 0
    assert book.in_flight("crm") == 0
