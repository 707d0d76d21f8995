"""The aggregator's ledger of one results partition, checked against a model of the partition and its owners.

A hypothesis state machine plays the partition's life: the environment appends
``accepted`` events (with replanned duplicates) and results in any order;
the owner reads them in batches, answers requests (all their results in, or
their deadline), publishes an answer as two sends (the profile, then its
``completed`` marker appended to the partition) and commits; at any moment it
crashes (its sends in flight are lost) or the partition is rebalanced (its
sends in flight go on), and a new owner replays from the committed offset.
The owner drives the ledger the way ``AggregatorAgent`` does.

Checked, for every interleaving:

- the commit never passes the ``accepted`` event of a request not answered
  (no ``completed`` marker in the partition), nor a record not read yet;
- a ledger that saw a request (live, answered, or its marker) ignores its
  replanned duplicates;
- once everything is read and sent, the commit reaches the end of the
  partition, every request was answered at least once, and more than once only where the guarantees allow it: an answer in flight
  when its owner changed (the window between a profile and its marker,
  docs/guarantees.md), or a request replanned after its marker, whose
  duplicate ``accepted`` event a new owner meets without the marker, which
  lies before the committed offset.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from streams.runtime.agents.ledger import RequestLedger

Kind = Literal["accepted", "result", "completed"]


@dataclass(frozen=True)
class Rec:
    kind: Kind
    rid: str
    node: str = ""


@dataclass
class Req:
    """What the owner keeps of a live request: its state machine, in miniature."""

    needs: frozenset[str]
    got: set[str] = field(default_factory=set)
    finished: bool = False


@dataclass
class Publish:
    """An answer being sent: 0 nothing sent yet, 1 the profile is out, 2 the marker is appended too."""

    rid: str
    ledger: RequestLedger[Req, str]
    stage: int = 0


def environment(requests: dict[str, frozenset[str]], data: st.DataObject) -> list[Rec]:
    """What planners and connectors append: each request's accepted event before its results,
    results duplicated at will, replanned accepted events anywhere after the first."""
    records: list[Rec] = []
    for rid, needs in requests.items():
        records.append(Rec("accepted", rid))
        for node in sorted(needs):
            records += [Rec("result", rid, node)] * data.draw(
                st.integers(1, 2), label=f"copies of {rid}/{node}"
            )
        records += [Rec("accepted", rid)] * data.draw(st.integers(0, 1), label=f"replans of {rid}")
    order = data.draw(st.permutations(records), label="order")
    for rid in requests:  # the first record of a request is its accepted event
        first = next(i for i, r in enumerate(order) if r.rid == rid)
        accepted = next(i for i, r in enumerate(order) if r.rid == rid and r.kind == "accepted")
        order[first], order[accepted] = order[accepted], order[first]
    return order


class PartitionLife(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.log: list[Rec] = []
        self.pending: list[Rec] = []
        self.needs: dict[str, frozenset[str]] = {}
        self.committed = 0
        self.profiles: Counter[str] = Counter()
        self.allowed: Counter[str] = Counter()  # extra answers the guarantees allow, per request
        self.publishes: list[Publish] = []
        self._take_over()

    def _take_over(self) -> None:
        """A new owner: an empty ledger, replaying from the committed offset."""
        self.ledger: RequestLedger[Req, str] = RequestLedger(replay_until=len(self.log))
        self.position = self.committed
        self.life_start = self.committed
        self.known: set[str] = set()  # requests this owner opened, answered or saw a marker of

    @initialize(
        requests=st.dictionaries(
            st.sampled_from(["r0", "r1", "r2", "r3"]),
            st.frozensets(st.sampled_from(["a", "b", "c"]), max_size=3),
            min_size=1,
        ),
        data=st.data(),
    )
    def script(self, requests: dict[str, frozenset[str]], data: st.DataObject) -> None:
        self.needs = requests
        self.pending = environment(requests, data)

    # -- the environment ---------------------------------------------------------------------

    @precondition(lambda self: bool(self.pending))
    @rule()
    def append(self) -> None:
        self.log.append(self.pending.pop(0))

    # -- the owner, as AggregatorAgent drives its ledger -----------------------------------

    @precondition(lambda self: self.position < len(self.log))
    @rule(batch=st.integers(1, 4))
    def read(self, batch: int) -> None:
        for offset in range(self.position, min(len(self.log), self.position + batch)):
            self._on_record(offset, self.log[offset])
            self.position = offset + 1
        self._publish_all(self.ledger.release())

    @precondition(lambda self: self.position == len(self.log) and self.ledger.replaying)
    @rule()
    def caught_up(self) -> None:
        """An empty poll at the high watermark ends the replay (``AggregatorAgent.idle``)."""
        self._publish_all(self.ledger.release(at_end=True))

    @rule(data=st.data())
    def deadline(self, data: st.DataObject) -> None:
        rid = data.draw(st.sampled_from(sorted(self.needs)))
        req = self.ledger.get(rid)
        if req is not None and not req.finished:
            self._finish(rid, req)

    @precondition(lambda self: bool(self.publishes))
    @rule(data=st.data())
    def send(self, data: st.DataObject) -> None:
        self._send(data.draw(st.sampled_from(self.publishes)))

    @rule()
    def commit(self) -> None:
        offset = self.ledger.committable()
        if offset is None:
            return
        self._check_commit(offset)
        self.committed = offset
        self.ledger.committed(offset)

    @rule(how=st.sampled_from(["crash", "rebalance"]), now=st.integers(0, 5))
    def new_owner(self, how: str, now: int) -> None:
        """The partition gets a new owner, one step in six or so (else an owner rarely gets far).

        crash: SIGKILL, no last commit; answers in flight are lost, a profile already out stays
        out. rebalance: a last commit, and the old owner's sends in flight go on."""
        if now:
            return
        if how == "crash":
            self.allowed.update(p.rid for p in self.publishes if p.stage == 1)
            self.publishes = []
        else:
            self.commit()
            self.allowed.update(p.rid for p in self.publishes if p.stage < 2)
        self._take_over()

    # -- checks ----------------------------------------------------------------------------------

    @invariant()
    def commit_is_behind_unanswered_requests(self) -> None:
        self._check_commit(self.committed)

    def teardown(self) -> None:
        """Everything appended, read and sent: every request answered, as often as allowed."""
        self.log += self.pending
        self.pending = []
        while True:
            self.read(batch=len(self.log))
            self._publish_all(self.ledger.release(at_end=True))
            # The aggregator's deadline timer answers every request still live: one whose results
            # never come, such as a duplicate replanned after its marker, met by an owner that
            # replays from past that marker and the results before it.
            for rid in sorted(self.needs):
                req = self.ledger.get(rid)
                if req is not None and not req.finished:
                    self._finish(rid, req)
            for publish in list(self.publishes):
                while publish in self.publishes:
                    self._send(publish)
            if self.position == len(self.log) and not self.publishes and not self.ledger.replaying:
                break
        offset = self.ledger.committable()
        final = self.committed if offset is None else offset
        assert final == len(self.log), f"the commit stalls at {final} of {len(self.log)}: {self.log}"
        for rid in self.needs:
            assert self.profiles[rid] >= 1, f"{rid} was never answered: {self.log}"
            assert self.profiles[rid] <= 1 + self.allowed[rid], (
                f"{rid} answered {self.profiles[rid]} times, {self.allowed[rid]} extra allowed: {self.log}"
            )

    # -- the owner's handling of records, as AggregatorAgent._on_record ---------------------------

    def _on_record(self, offset: int, record: Rec) -> None:
        rid = record.rid
        if record.kind == "accepted":
            if not self.ledger.accepted(rid, offset):
                return
            assert rid not in self.known, f"{rid} at {offset} was opened again by an owner that knew it"
            if any(r == Rec("completed", rid) for r in self.log[: self.life_start]):
                self.allowed[rid] += 1  # replanned after its marker, which this owner never reads
            self.known.add(rid)
            req = Req(needs=self.needs[rid])
            self.ledger.open(rid, offset, req)
            if not req.needs:  # nothing to fetch: answered at the start
                self._finish(rid, req)
        elif record.kind == "completed":
            self.known.add(rid)
            self.ledger.completed(rid, offset)
        else:
            live = self.ledger.result(rid, offset)
            if live is not None and not live.finished:
                live.got.add(record.node)
                if live.got >= live.needs:
                    self._finish(rid, live)

    def _finish(self, rid: str, req: Req) -> None:
        req.finished = True
        if self.ledger.answer(rid, rid):
            self.publishes.append(Publish(rid, self.ledger))

    def _publish_all(self, released: list[tuple[str, Req, str]]) -> None:
        for rid, _req, _answer in released:
            self.publishes.append(Publish(rid, self.ledger))

    def _send(self, publish: Publish) -> None:
        """The next send of an answer (``AggregatorAgent._publish``): the profile, the marker, then
        the ledger is told."""
        if publish.stage == 0:
            self.profiles[publish.rid] += 1
        elif publish.stage == 1:
            self.log.append(Rec("completed", publish.rid))
        else:
            publish.ledger.answered(publish.rid)
            self.publishes.remove(publish)
            return
        publish.stage += 1

    def _check_commit(self, offset: int) -> None:
        assert offset <= self.position, f"commit {offset} passes the records read ({self.position})"
        marked = {r.rid for r in self.log if r.kind == "completed"}
        for rid in self.needs:
            accepted = [i for i, r in enumerate(self.log) if r == Rec("accepted", rid)]
            if accepted and rid not in marked:
                assert offset <= accepted[0], f"commit {offset} passes unanswered {rid}@{accepted[0]}"


PartitionLife.TestCase.settings = settings(max_examples=300, stateful_step_count=100, deadline=None)
test_a_replay_answers_each_request_once_and_the_commit_never_passes_one_unfinished = PartitionLife.TestCase


# -- examples ------------------------------------------------------------------------------------


def test_an_answer_found_while_replaying_waits_until_the_partition_is_caught_up() -> None:
    ledger: RequestLedger[str, str] = RequestLedger(replay_until=3)
    assert ledger.accepted("r", 0)
    ledger.open("r", 0, "state of r")
    assert ledger.result("r", 1) == "state of r"
    assert not ledger.answer("r", "profile of r")
    assert ledger.release() == []  # read up to 2 of 3
    ledger.skip(2)
    assert ledger.release() == [("r", "state of r", "profile of r")]
    assert not ledger.replaying


def test_a_marker_met_while_replaying_discards_the_held_answer_and_finishes_the_request() -> None:
    ledger: RequestLedger[str, str] = RequestLedger(replay_until=10)
    assert ledger.accepted("r", 4)
    ledger.open("r", 4, "state")
    ledger.result("r", 5)
    ledger.answer("r", "profile")
    assert ledger.completed("r", 6)
    assert len(ledger) == 0
    assert ledger.release(at_end=True) == []
    assert ledger.committable() == 7
    assert not ledger.accepted("r", 7), "a replanned duplicate of an answered request"
    assert ledger.committable() == 8


def test_the_commit_waits_for_the_oldest_live_request_until_it_is_answered() -> None:
    ledger: RequestLedger[str, str] = RequestLedger()
    for rid, offset in (("old", 0), ("new", 1)):
        assert ledger.accepted(rid, offset)
        ledger.open(rid, offset, rid)
    ledger.result("new", 2)
    assert ledger.answer("new", "profile")  # no replay: publish now
    assert ledger.answered("new")
    assert ledger.committable() == 0
    assert ledger.answer("old", "profile")
    assert ledger.answered("old")
    assert not ledger.answered("old"), "answered once"
    assert ledger.committable() == 3


def test_finished_requests_are_remembered_up_to_the_bound() -> None:
    ledger: RequestLedger[str, str] = RequestLedger(remembered=2)
    for offset, rid in enumerate(("a", "b", "c")):
        ledger.completed(rid, offset)
    assert ledger.accepted("a", 3), "forgotten: the oldest of three, with room for two"
    assert not ledger.accepted("c", 4)
