"""History: per-source and per-node statistics, a sample floor, peers that replace themselves, an LRU bound."""

from __future__ import annotations

import json

import pytest

from streams.engine.history import History, HistoryKey
from tests.support.clock import ManualClock

NODE = HistoryKey.node("customer360", "orders")
SOURCE = HistoryKey.source("customer360", "orders_api")
EPOCH_S = 1_700_000_000.0
"""Where the history's clock starts: wall-clock seconds, as its snapshots carry."""


def observe(
    history: History, latency_ms: float, *, n: int = 1, ok: bool = True, node: str = "orders"
) -> None:
    for _ in range(n):
        history.observe(pipeline="customer360", node=node, source="orders_api", latency_ms=latency_ms, ok=ok)


def test_no_answer_until_min_samples() -> None:
    history = History(min_samples=20, clock=ManualClock(EPOCH_S))
    observe(history, 40.0, n=19)
    assert history.quantile_ms(NODE, 0.95) is None
    assert history.error_rate(NODE) is None
    assert history.count(NODE) == pytest.approx(19)
    observe(history, 40.0)
    assert history.quantile_ms(NODE, 0.95) == pytest.approx(40.0, rel=0.01)
    assert history.error_rate(NODE) == 0.0


def test_failures_count_in_the_error_rate_but_not_in_latency() -> None:
    history = History(min_samples=20, clock=ManualClock(EPOCH_S))
    observe(history, 30.0, n=30)
    observe(history, 5_000.0, n=10, ok=False)  # timeouts: their latency is the timeout itself
    assert history.error_rate(NODE) == pytest.approx(0.25)
    assert history.quantile_ms(NODE, 1.0) == pytest.approx(30.0, rel=0.01)
    assert history.count(NODE) == pytest.approx(40)


def test_a_source_aggregates_every_node_that_uses_it() -> None:
    history = History(min_samples=1, clock=ManualClock(EPOCH_S))
    observe(history, 10.0, n=50, node="orders")
    observe(history, 100.0, n=50, node="invoices")
    assert history.quantile_ms(NODE, 0.9) == pytest.approx(10.0, rel=0.01)
    assert history.quantile_ms(SOURCE, 0.9) == pytest.approx(100.0, rel=0.01)
    assert history.count(SOURCE) == pytest.approx(100)
    assert set(history.known_keys()) == {NODE, SOURCE, HistoryKey.node("customer360", "invoices")}


def test_observations_decay_with_the_clock() -> None:
    clock = ManualClock(EPOCH_S)
    history = History(half_life_s=60.0, min_samples=20, clock=clock)
    observe(history, 40.0, n=30)
    clock.now += 60.0
    assert history.count(NODE) == pytest.approx(15)
    assert history.quantile_ms(NODE, 0.5) is None  # 15 decayed samples: below the floor again


def test_snapshot_is_json_and_informs_a_new_worker() -> None:
    clock = ManualClock(EPOCH_S)
    worker_a = History(clock=clock)
    observe(worker_a, 25.0, n=60)
    observe(worker_a, 80.0, n=40, ok=False)
    snapshot = json.loads(json.dumps(worker_a.snapshot()))

    worker_b = History(clock=clock)
    assert worker_b.merge_peer("worker-a", snapshot) is True
    for key in (NODE, SOURCE):
        assert worker_b.quantile_ms(key, 0.5) == worker_a.quantile_ms(key, 0.5)
        assert worker_b.error_rate(key) == pytest.approx(0.4)
        assert worker_b.count(key) == pytest.approx(100)
    assert worker_b.snapshot()["keys"] == []  # a peer's observations are not republished


def test_queries_combine_own_and_peer_observations() -> None:
    clock = ManualClock(EPOCH_S)
    peer = History(clock=clock)
    observe(peer, 10.0, n=50)
    history = History(clock=clock)
    observe(history, 200.0, n=10)
    history.merge_peer("peer", peer.snapshot())
    assert history.count(NODE) == pytest.approx(60)
    assert history.quantile_ms(NODE, 0.5) == pytest.approx(10.0, rel=0.01)
    # Own observations after the view was built are still counted.
    observe(history, 200.0, n=60)
    assert history.count(NODE) == pytest.approx(120)
    assert history.quantile_ms(NODE, 0.5) == pytest.approx(200.0, rel=0.01)


def test_a_peers_latest_snapshot_replaces_its_previous_one() -> None:
    clock = ManualClock(EPOCH_S)
    peer = History(clock=clock)
    observe(peer, 10.0, n=50)
    first = peer.snapshot()
    clock.now += 1.0
    observe(peer, 10.0, n=50)
    second = peer.snapshot()

    history = History(clock=clock)
    history.merge_peer("peer", first)
    assert history.count(NODE) == pytest.approx(50, rel=0.01)  # one second of decay
    history.merge_peer("peer", second)
    assert history.count(NODE) == pytest.approx(100, rel=0.01)  # not 150: replaced, not added
    assert history.merge_peer("peer", first) is False  # an older snapshot arriving late is ignored
    assert history.count(NODE) == pytest.approx(100, rel=0.01)
    history.drop_peer("peer")
    assert history.count(NODE) == 0
    assert history.quantile_ms(NODE, 0.5) is None


def test_peers_are_bounded_oldest_snapshot_dropped() -> None:
    clock = ManualClock(EPOCH_S)
    peer = History(clock=clock)
    observe(peer, 10.0, n=5)
    history = History(max_peers=2, clock=clock)
    for name in ("a", "b", "c"):
        clock.now += 1.0
        history.merge_peer(name, peer.snapshot())
    assert sorted(history.peers()) == ["b", "c"]


def test_keys_are_bounded_least_recently_observed_dropped() -> None:
    history = History(max_keys=4, min_samples=1, clock=ManualClock(EPOCH_S))
    for node in ("a", "b", "c"):  # keys: node a, node b, node c and the one source: 4
        observe(history, 10.0, node=node)
    observe(history, 10.0, node="a")  # a is recent again; b is now the least recently observed
    observe(history, 10.0, node="d")
    kept = {key.name for key in history.known_keys()}
    assert kept == {"orders_api", "a", "c", "d"}
    assert history.quantile_ms(HistoryKey.node("customer360", "b"), 0.5) is None
    assert len(history.snapshot()["keys"]) == 4


def test_snapshot_can_be_limited_to_the_most_recent_keys() -> None:
    history = History(clock=ManualClock(EPOCH_S))
    for node in ("a", "b", "c"):
        observe(history, 10.0, node=node)
    names = [entry["name"] for entry in history.snapshot(max_keys=2)["keys"]]
    assert names == ["orders_api", "c"]


@pytest.mark.parametrize(
    ("snapshot", "message"),
    [
        ({"schema": 2, "at_s": 0, "keys": []}, "malformed at schema"),
        ({"schema": 1, "keys": []}, "malformed at at_s"),
        ({"schema": 1, "at_s": 0, "keys": [{"kind": "table", "pipeline": "p", "name": "n"}]}, "keys.0.kind"),
    ],
)
def test_malformed_peer_snapshots_are_refused(snapshot: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        History().merge_peer("peer", snapshot)


def test_peer_with_other_parameters_is_refused() -> None:
    peer = History(half_life_s=30.0)
    observe(peer, 10.0)
    with pytest.raises(ValueError, match="configure every worker alike"):
        History(half_life_s=300.0).merge_peer("peer", peer.snapshot())


def test_answers_stay_right_across_thousands_of_half_lives() -> None:
    """Weights would overflow a float after ~1000 half-lives; the landmark moves before that."""
    clock = ManualClock(EPOCH_S)
    history = History(half_life_s=1.0, min_samples=1, clock=clock)
    peer = History(half_life_s=1.0, clock=clock)
    for _ in range(3):
        observe(history, 10.0, n=40)
        clock.now += 1_500.0
        observe(peer, 300.0, n=40)
        history.merge_peer("peer", peer.snapshot())
        observe(history, 300.0, n=40)
        assert history.count(NODE) == pytest.approx(80)
        assert history.quantile_ms(NODE, 0.01) == pytest.approx(300.0, rel=0.01)
