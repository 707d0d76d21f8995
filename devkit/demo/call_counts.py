"""Call counters per service, read by tests of concurrency limits, hedging and caching."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from devkit.demo.server_settings import SERVICES


@dataclass(kw_only=True)
class ServiceStats:
    """``calls`` started, ``errors`` answered 5xx, calls ``in_flight`` now and at most."""

    calls: int = 0
    errors: int = 0
    in_flight: int = 0
    max_in_flight: int = 0


class StatsBook:
    """The counters of every service; one event loop updates them, so no locks."""

    def __init__(self) -> None:
        self._stats = {service: ServiceStats() for service in SERVICES}

    def enter(self, service: str) -> None:
        stats = self._stats[service]
        stats.calls += 1
        stats.in_flight += 1
        stats.max_in_flight = max(stats.max_in_flight, stats.in_flight)

    def leave(self, service: str, *, failed: bool) -> None:
        stats = self._stats[service]
        stats.in_flight -= 1
        stats.errors += failed

    def in_flight(self, service: str) -> int:
        """Calls to ``service`` in progress now."""
        return self._stats[service].in_flight

    def reset(self) -> None:
        """Zero the counts; calls still in flight stay counted in ``in_flight``."""
        for stats in self._stats.values():
            stats.calls = stats.errors = 0
            stats.max_in_flight = stats.in_flight

    def snapshot(self) -> dict[str, dict[str, int]]:
        return {service: asdict(stats) for service, stats in self._stats.items()}
