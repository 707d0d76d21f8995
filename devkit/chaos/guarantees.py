"""The processing guarantee a chaos run measures, and what it asks of the broker and the pipeline.

``at_least_once`` (the default) runs on either local broker and allows a
request in flight at a crash to be answered twice. ``exactly_once`` runs the
workers with ``GRAPHFETCH_PROCESSING_GUARANTEE=exactly_once`` and reads the
profiles ``read_committed``; it needs transactions, so Apache Kafka (Tansu has
none), and it allows no duplicate at all, crash or not. Kept free of heavy
imports for the CLI, like :mod:`devkit.chaos.layouts`.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

from devkit.brokers import choose_kind
from devkit.brokers.apache_kafka import kafka_available
from streams.cli.shared_options import BrokerKind

EXACTLY_ONCE_DEFAULTS: Mapping[str, int] = {"timeout_ms": 5_000, "deadline_ms": 30_000}
"""customer360's ``defaults`` under exactly-once (as in tests/integration/runtime/test_exactly_once.py):
each hop of a request waits for the transaction commit (every 200 ms) that makes its input
visible to ``read_committed`` readers, so the shipped 1 s deadline would measure that."""


CRASH_WINDOW_S = 1.0
"""At least once, a request first answered this long before a crash may still be answered again: its
profile was out, its ``completed`` marker, sent next, was not (a loaded two-core machine can take
hundreds of milliseconds between the two)."""


class Guarantee(enum.StrEnum):
    """``GRAPHFETCH_PROCESSING_GUARANTEE`` of the workers under test."""

    AT_LEAST_ONCE = "at_least_once"
    EXACTLY_ONCE = "exactly_once"


class UnsupportedGuarantee(ValueError):
    """The guarantee cannot be measured on the broker asked for; the message says what to do."""


def broker_for(guarantee: Guarantee, kind: BrokerKind) -> BrokerKind:
    """The local broker to run ``guarantee`` on: ``auto`` resolved; refused where it cannot run."""
    if guarantee is Guarantee.AT_LEAST_ONCE:
        return choose_kind(kind)
    if kind is BrokerKind.TANSU:
        raise UnsupportedGuarantee(
            "--guarantee exactly_once needs a broker with transactions, and Tansu has none: "
            "use --broker kafka (or auto)"
        )
    if not kafka_available():
        raise UnsupportedGuarantee(
            "--guarantee exactly_once needs Apache Kafka (Tansu has no transactions), which is not "
            "installed here: install Java 17+ and run scripts/kafka/fetch"
        )
    return BrokerKind.KAFKA


def allowed_duplicates(*, guarantee: Guarantee, crash: bool, at_risk: int) -> int:
    """How many duplicated requests a run may show within the guarantee of docs/guarantees.md.

    At-least-once: after a crash (a SIGKILL, a freeze past the session timeout)
    each request ``at_risk`` may be answered twice: one in flight at the fault,
    or answered in the moment before it (its profile out, its ``completed``
    marker not yet written: :data:`CRASH_WINDOW_S`). Otherwise none.
    Exactly-once: none, a crash included.
    """
    if guarantee is Guarantee.AT_LEAST_ONCE and crash:
        return at_risk
    return 0
