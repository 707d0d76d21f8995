"""Pipeline budgets for tests that assert complete profiles.

customer360's own (300 ms attempts, a 1 s deadline for three levels of Kafka hops) make a complete
profile a matter of the machine's speed: a loaded two-core machine answers partial. A test that
checks what is in a profile, not how fast it came, runs with :data:`UNHURRIED`, which still lets
a hang fail.
"""

from __future__ import annotations

from collections.abc import Mapping

UNHURRIED: Mapping[str, float] = {"timeout_ms": 5_000, "deadline_ms": 30_000}
"""Pipeline ``defaults`` (e.g. ``write_pipeline(defaults=UNHURRIED)``)."""
