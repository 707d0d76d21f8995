"""Request coalescing: identical fetches in flight at the same time share one upstream call.

The first caller for a key (the *leader*) starts the call as a task of its
own; callers that arrive while it runs (the *followers*) wait on that task
instead of calling again. Every caller learns whether it shared someone
else's call, so the profile's lineage can say ``shared an in-flight fetch``.

Why a task and not the leader's own coroutine: a caller may be cancelled
(its request's deadline passed, its worker is rebalanced) while others still
wait. Each caller awaits the task through :func:`asyncio.shield`, so its
cancellation ends only its own wait; the call is cancelled when the last
waiter has gone, since nobody wants its result any more. The task is created
from the leader's context, so its spans and context variables are the
leader's.

Only in-flight calls are held (an entry leaves when its call ends or is
abandoned), so the coalescer is bounded by the concurrency of its callers.
It is not a cache: a call that has finished is never shared.

Share only calls that are safe to repeat (reads): followers get the leader's
result, made with the leader's request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Generic, NamedTuple, TypeVar

T = TypeVar("T")


class Coalesced(NamedTuple, Generic[T]):
    """A call's result, and whether this caller shared another caller's call."""

    value: T
    shared: bool


@dataclass(kw_only=True)
class _Flight(Generic[T]):
    """One call in flight and how many callers still wait on it."""

    task: asyncio.Task[T]
    waiters: int = field(default=0)


class Coalescer(Generic[T]):
    """Runs at most one call per key at a time; concurrent callers of a key share its outcome."""

    def __init__(self) -> None:
        self._flights: dict[str, _Flight[T]] = {}
        self._abandoned: set[asyncio.Task[T]] = set()
        """Calls cancelled because every waiter left, kept referenced until they end."""

    @property
    def in_flight(self) -> int:
        """Keys with a call running (abandoned calls still winding down are not counted)."""
        return len(self._flights)

    async def run(self, key: str, call: Callable[[], Coroutine[Any, Any, T]]) -> Coalesced[T]:
        """Return the result of ``call()``, or of the call already running for ``key``.

        ``call`` is invoked only by the leader. Its exception is raised in every
        waiter. Cancelling a waiter cancels only its wait, unless it is the last
        one, which cancels the call too.
        """
        flight = self._flights.get(key)
        shared = flight is not None
        if flight is None:
            flight = _Flight(task=asyncio.create_task(call(), name="graphfetch-coalesced-call"))
            self._flights[key] = flight
            flight.task.add_done_callback(lambda task: self._landed(key, task))
        flight.waiters += 1
        try:
            value = await asyncio.shield(flight.task)
        finally:
            flight.waiters -= 1
            if flight.waiters == 0 and not flight.task.done():
                self._abandon(key, flight)
        return Coalesced(value, shared)

    def _abandon(self, key: str, flight: _Flight[T]) -> None:
        """Cancel a call nobody waits for; a new caller of the key starts a fresh one."""
        if self._flights.get(key) is flight:
            del self._flights[key]
        self._abandoned.add(flight.task)
        flight.task.cancel()

    def _landed(self, key: str, task: asyncio.Task[T]) -> None:
        if (flight := self._flights.get(key)) is not None and flight.task is task:
            del self._flights[key]
        self._abandoned.discard(task)
        if not task.cancelled():
            # Waiters that left before the end did not read the exception; mark it read
            # so asyncio does not log "Task exception was never retrieved".
            task.exception()
