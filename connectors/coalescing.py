"""Request coalescing: identical fetches in flight at the same time share one upstream call.

The first caller for a key (the *leader*) makes the call itself, in its own
task; callers that arrive while it runs (the *followers*) wait for its
outcome instead of calling again. Every caller learns whether it shared
someone else's call, so the profile's lineage can say ``shared an in-flight
fetch``.

Why the leader's own task and not a task of the call's own: almost every
call has no follower, and a task and a shield per call cost about 20 us,
several times the rest of the bookkeeping. The price is in the rare case:
when the leader is cancelled (its request's deadline passed, its worker is
rebalanced), its call is cancelled with it, and the followers still waiting
start a fresh call, the first of them becoming the new leader. A follower's
cancellation ends only its own wait. The call runs in the leader's context,
so its spans and context variables are the leader's.

Only in-flight calls are held (an entry leaves when its call ends), so the
coalescer is bounded by the concurrency of its callers. It is not a cache: a
call that has finished is never shared.

Share only calls that are safe to repeat (reads): followers get the leader's
result, made with the leader's request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, Generic, NamedTuple, TypeVar

T = TypeVar("T")


class Coalesced(NamedTuple, Generic[T]):
    """A call's result, and whether this caller shared another caller's call."""

    value: T
    shared: bool


class _LeaderLeft(Exception):
    """The leader was cancelled, and its call with it: a waiting follower calls again."""


class _Flight(Generic[T]):
    """One call in flight, and its outcome for the followers (made when the first one comes)."""

    __slots__ = ("followers", "outcome")

    def __init__(self) -> None:
        self.outcome: asyncio.Future[T] | None = None
        self.followers = 0

    def wait(self) -> asyncio.Future[T]:
        """A follower's wait for the outcome (shielded: its cancellation is its own)."""
        if self.outcome is None:
            self.outcome = asyncio.get_running_loop().create_future()
        self.followers += 1
        return asyncio.shield(self.outcome)


class Coalescer(Generic[T]):
    """Runs at most one call per key at a time; concurrent callers of a key share its outcome."""

    def __init__(self) -> None:
        self._flights: dict[str, _Flight[T]] = {}

    @property
    def in_flight(self) -> int:
        """Keys with a call running."""
        return len(self._flights)

    async def run(self, key: str, call: Callable[[], Coroutine[Any, Any, T]]) -> Coalesced[T]:
        """Return the result of ``call()``, or of the call already running for ``key``.

        ``call`` is invoked only by a leader. Its exception is raised in every
        waiter. Cancelling a follower cancels only its wait; cancelling the
        leader cancels the call, and the remaining followers call again.
        """
        while (flight := self._flights.get(key)) is not None:
            try:
                return Coalesced(await flight.wait(), shared=True)
            except _LeaderLeft:
                continue
            finally:
                flight.followers -= 1
        # The leader, here rather than in a coroutine of its own: this one is held for the whole call.
        led: _Flight[T] = _Flight()
        self._flights[key] = led
        try:
            value = await call()
        except asyncio.CancelledError:
            self._land(key, led, error=_LeaderLeft())
            raise
        except BaseException as exc:
            self._land(key, led, error=exc)
            raise
        self._land(key, led, value=value)
        return Coalesced(value, shared=False)

    def _land(
        self, key: str, flight: _Flight[T], *, value: Any = None, error: BaseException | None = None
    ) -> None:
        """The call ended: no new caller joins it; the followers waiting get its outcome."""
        if self._flights.get(key) is flight:
            del self._flights[key]
        if flight.outcome is None or not flight.followers:
            return  # nobody reads the outcome: setting an error would log it as never retrieved
        if error is None:
            flight.outcome.set_result(value)
            return
        flight.outcome.set_exception(error)
