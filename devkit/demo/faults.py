"""Fault knobs at run time: the current knobs per service and what they decide for a call.

Each service draws from its own ``random.Random`` seeded with ``"<seed>:<service>"``
and every call draws the same four numbers whatever the knobs, so a run with
the same seed and the same sequence of calls per service makes the same
decisions, and traffic to one service never shifts another's draws.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from devkit.demo.server_settings import SERVICES, DemoSettings, FaultSettings


@dataclass(frozen=True, slots=True, kw_only=True)
class FaultDecision:
    """What happens to one call: wait ``delay_ms``, then fail (503) or answer."""

    delay_ms: float
    fail: bool
    down: bool


class FaultInjector:
    """The knobs of every service, changed at run time and reset to the start settings."""

    def __init__(self, settings: DemoSettings) -> None:
        self._initial = {service: settings.faults_for(service) for service in SERVICES}
        self._seed = settings.seed
        self._knobs = dict(self._initial)
        self._random = self._fresh_randoms()

    def _fresh_randoms(self) -> dict[str, random.Random]:
        return {service: random.Random(f"{self._seed}:{service}") for service in SERVICES}

    def knobs(self) -> dict[str, FaultSettings]:
        """The current knobs of every service."""
        return dict(self._knobs)

    def update(self, services: Iterable[str], patch: Mapping[str, object]) -> None:
        """Merge ``patch`` (any subset of the knobs) into the knobs of each of ``services``.

        Raises ``KeyError`` for an unknown service and pydantic's ``ValidationError``
        for an unknown knob or a value out of range; nothing changes then.
        """
        merged = {
            service: FaultSettings.model_validate({**self._knobs[service].model_dump(), **patch})
            for service in services
        }
        self._knobs.update(merged)

    def reset(self) -> None:
        """Back to the start knobs, with the random draws starting over."""
        self._knobs = dict(self._initial)
        self._random = self._fresh_randoms()

    def decide(self, service: str, *, in_flight: int = 1) -> FaultDecision:
        """Draw the fate of one call to ``service``, which arrives as the ``in_flight``-th call in
        progress there (itself included): beyond the service's ``capacity`` its delay grows in
        proportion, as each of the calls gets a smaller share of a saturated server."""
        knobs = self._knobs[service]
        draw = self._random[service].random
        jitter, tail, hang, error = draw(), draw(), draw(), draw()
        if knobs.down:
            return FaultDecision(delay_ms=0.0, fail=True, down=True)
        delay_ms = knobs.latency_ms + jitter * knobs.jitter_ms
        if tail < knobs.tail_rate:
            delay_ms *= knobs.tail_factor
        if knobs.capacity is not None and in_flight > knobs.capacity:
            delay_ms *= in_flight / knobs.capacity
        if hang < knobs.hang_rate:
            delay_ms = knobs.hang_ms
        return FaultDecision(delay_ms=delay_ms, fail=error < knobs.error_rate, down=False)
