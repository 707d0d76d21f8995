"""What the aggregator knows of one partition of ``graphfetch.results``: bookkeeping, no I/O.

Every record of the partition goes through a :class:`RequestLedger` in offset
order, and the ledger keeps:

- the **live** requests: accepted and not answered yet; the ``accepted``
  event of each holds back the partition's commit;
- the answers **held back** while the partition is replayed (after a crash,
  a rebalance, lost state): they go out once the partition is caught up, and
  a ``completed`` marker met on the way discards them;
- the **finished** requests: answered here, or by a ``completed`` marker met
  in the log; the last :data:`FINISHED_REMEMBERED` of them are remembered, so
  that a replanned duplicate of their ``accepted`` event is ignored;
- the **commit point**: the offset of the oldest live request's ``accepted``
  event, or past the last record read when nothing is live. A member that
  takes the partition over and replays from there rebuilds every live request.

The agent does the I/O around it: it publishes what :meth:`RequestLedger.answer`
and :meth:`RequestLedger.release` say to publish, and calls
:meth:`RequestLedger.answered` once an answer and its ``completed`` marker are
acknowledged. ``tests/unit/streams/test_ledger.py`` checks, for any
interleaving of records and a crash at any point, that a replay answers each
request once (up to the window between an answer and its marker) and that the
commit never passes an unfinished request.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Generic, TypeVar

from streams.runtime.offsets import PartitionOffsets

__all__ = ["FINISHED_REMEMBERED", "RequestLedger"]

FINISHED_REMEMBERED = 50_000
V = TypeVar("V")  # what the agent keeps of a live request (its state machine, its trace headers)
A = TypeVar("A")  # a request's answer (the profile to publish)


@dataclass
class _Live(Generic[V]):
    value: V
    offset: int  # of its accepted event


class RequestLedger(Generic[V, A]):
    """The requests of one results partition: live, held back, finished; and where to commit."""

    def __init__(self, *, replay_until: int | None = None, remembered: int = FINISHED_REMEMBERED) -> None:
        """``replay_until``: the partition's end offset when it was assigned; until it is read up
        to there, answers are held back. None or 0: nothing to replay."""
        self._live: dict[str, _Live[V]] = {}
        self._held: dict[str, A] = {}
        self._finished: OrderedDict[str, None] = OrderedDict()
        self._remembered = remembered
        self._offsets = PartitionOffsets()
        self._replay_until = replay_until or None
        self._position = 0  # one past the last offset read

    def __len__(self) -> int:
        """Live requests."""
        return len(self._live)

    @property
    def replaying(self) -> bool:
        return self._replay_until is not None

    def get(self, request_id: str) -> V | None:
        """What the agent keeps of a live request; None if it is not live."""
        live = self._live.get(request_id)
        return live.value if live is not None else None

    # -- records, in offset order ----------------------------------------------------------

    def skip(self, offset: int) -> None:
        """A record that changes nothing (one that cannot be decoded)."""
        self._read(offset)
        self._offsets.finish(offset)

    def accepted(self, request_id: str, offset: int) -> bool:
        """A request's ``accepted`` event. False: a duplicate (a replanned request, live or
        finished), finished at once; True: :meth:`open` the request next."""
        self._read(offset)
        if request_id in self._live or request_id in self._finished:
            self._offsets.finish(offset)
            return False
        return True

    def open(self, request_id: str, offset: int, value: V) -> None:
        """The request :meth:`accepted` at ``offset`` is live: its offset holds back the commit."""
        self._live[request_id] = _Live(value=value, offset=offset)

    def result(self, request_id: str, offset: int) -> V | None:
        """A node's result: finished once applied; what to apply it to, None if the request is
        not live (a late or duplicate result, or one of a finished request)."""
        self._read(offset)
        self._offsets.finish(offset)
        return self.get(request_id)

    def completed(self, request_id: str, offset: int) -> bool:
        """A ``completed`` marker: the request was answered (here or by a previous owner of the
        partition). True if an answer held back for it was discarded."""
        self._read(offset)
        self._offsets.finish(offset)
        self._finish(request_id)
        return self._held.pop(request_id, None) is not None

    # -- answers -----------------------------------------------------------------------------

    def answer(self, request_id: str, answer: A) -> bool:
        """A live request has its answer. True: publish it now. False: it is held back until the
        partition is caught up (see :meth:`release`), or the request is not live."""
        if request_id not in self._live:
            return False
        if self._replay_until is not None:
            self._held[request_id] = answer
            return False
        return True

    def release(self, *, at_end: bool = False) -> list[tuple[str, V, A]]:
        """End the replay once the partition is caught up, and hand back the answers held meanwhile,
        to publish now. Caught up: read up to the end offset it had when it was assigned or, with
        ``at_end``, the caller saw it read up to its high watermark. Empty while the replay goes
        on, and once it is over."""
        if self._replay_until is None or not (at_end or self._position >= self._replay_until):
            return []
        self._replay_until = None
        held, self._held = self._held, {}
        return [(rid, live.value, answer) for rid, answer in held.items() if (live := self._live.get(rid))]

    def answered(self, request_id: str) -> bool:
        """The request's answer and its ``completed`` marker are acknowledged: it no longer holds
        back the commit. False if it was not live (a marker met meanwhile finished it)."""
        if request_id not in self._live:
            return False
        self._finish(request_id)
        return True

    # -- commits -----------------------------------------------------------------------------

    def committable(self) -> int | None:
        """The offset to commit now, or None if nothing new is safe to commit."""
        return self._offsets.committable()

    def committed(self, offset: int) -> None:
        self._offsets.committed(offset)

    def _read(self, offset: int) -> None:
        self._offsets.start(offset)
        self._position = max(self._position, offset + 1)

    def _finish(self, request_id: str) -> None:
        live = self._live.pop(request_id, None)
        if live is not None:
            self._offsets.finish(live.offset)
        self._finished[request_id] = None
        self._finished.move_to_end(request_id)
        while len(self._finished) > self._remembered:
            self._finished.popitem(last=False)
