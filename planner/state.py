"""The per-request state machine: pure, no I/O, no clock of its own.

Both runtimes (in-process and Kafka) drive it the same way::

    state = RequestState(plan, request_id=..., received_at_ms=now, deadline_ms=800)
    step = state.start(now)             # tasks ready at once
    step = state.resume(dispatched, now)  # or: rebuilt where another process ran start()
    step = state.apply(outcome, now)    # a node's result: newly ready tasks, maybe the profile
    step = state.expire(now)            # at the deadline: the partial profile

Results may arrive in any order and more than once; a duplicate or a late result
changes nothing. Time is passed in as epoch milliseconds.
"""

from __future__ import annotations

import enum
import heapq
from dataclasses import dataclass, field
from typing import Any

from planner.expressions import KEYS, RenderError
from planner.graph import Plan
from planner.profile import ErrorKind, Lineage, NodeError, Profile, Status, Timing, iso_ms


class NodeState(enum.Enum):
    PENDING = "pending"
    DISPATCHED = "dispatched"
    DONE = "done"
    SKIPPED = "skipped"
    FAILED = "failed"

    @property
    def terminal(self) -> bool:
        return self in _TERMINAL


_TERMINAL = frozenset({NodeState.DONE, NodeState.SKIPPED, NodeState.FAILED})


def task_id_for(request_id: str, node: str) -> str:
    """Deterministic task id: a replayed request yields the same ids, so duplicates are spotted."""
    return f"{request_id}/{node}"


@dataclass(frozen=True, kw_only=True, slots=True)
class Task:
    """A node's fetch, rendered for one request; what a connector worker executes."""

    task_id: str
    request_id: str
    pipeline: str
    config_version: str
    node: str
    source: str
    connector: str
    request: Any
    timeout_ms: float
    retries: int
    deadline_at_ms: float


@dataclass(frozen=True, kw_only=True, slots=True)
class Failure:
    """Why a node's fetch gave no value; it becomes the profile's ``errors.<node>``."""

    kind: ErrorKind
    message: str
    retriable: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class Outcome:
    """A node's result as reported by a connector worker: a value or a failure."""

    node: str
    value: Any = None
    failure: Failure | None = None
    attempts: int = 1
    latency_ms: float = 0.0
    fetched_at_ms: float | None = None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class Emission:
    """The finished profile and the Kafka key it goes out with."""

    profile: Profile
    key: str | None
    topic: str


@dataclass(frozen=True, kw_only=True, slots=True)
class Step:
    """What the caller must do now."""

    tasks: tuple[Task, ...] = ()
    skipped: tuple[str, ...] = ()
    emission: Emission | None = None


@dataclass(slots=True)
class _Node:
    state: NodeState = NodeState.PENDING
    outcome: Outcome | None = None
    error: NodeError | None = None
    skip_reason: str | None = None


@dataclass(slots=True)
class RequestState:
    """The state of one request, from planning to its profile."""

    plan: Plan
    request_id: str
    received_at_ms: float
    deadline_ms: float | None = None
    trace_id: str | None = None
    _nodes: dict[str, _Node] = field(init=False, repr=False)
    _context: dict[str, Any] = field(init=False, repr=False)
    _remaining: int = field(init=False, repr=False)
    emission: Emission | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self._nodes = {n: _Node() for n in self.plan.nodes}
        self._context = {KEYS: dict(self.plan.keys)}
        self._remaining = len(self._nodes)
        if self.deadline_ms is None:
            self.deadline_ms = self.plan.pipeline.config.defaults.deadline_ms

    @property
    def deadline_at_ms(self) -> float:
        return self.received_at_ms + float(self.deadline_ms or 0)

    @property
    def finished(self) -> bool:
        return self.emission is not None

    def node_state(self, node: str) -> NodeState:
        return self._nodes[node].state

    def skip_reason(self, node: str) -> str | None:
        return self._nodes[node].skip_reason

    def start(self, now_ms: float) -> Step:
        """Dispatch what is ready at once (the graph's roots, or all if it is empty). Once per
        request: a runtime that rebuilds a request someone else started calls :meth:`resume`."""
        return self._begin(now_ms)

    def resume(self, dispatched: set[str], now_ms: float) -> Step:
        """Rebuild a request whose :meth:`start` ran elsewhere (the planner agent) from what it
        recorded: the task ids it ``dispatched``.

        Those tasks are in flight. What that start settled without a task (nodes skipped by a
        ``when:``, failed to render) depends on the plan and the keys alone, so it is settled
        again, the same way. The step holds what is left to do: tasks start would have sent that
        ``dispatched`` lacks, the profile if nothing is left to wait for; never the skipped
        nodes, which the start reported.
        """
        self.mark_dispatched(dispatched)
        step = self._begin(now_ms)
        return Step(tasks=step.tasks, emission=step.emission)

    def _begin(self, now_ms: float) -> Step:
        if self.finished:
            return Step()
        if now_ms >= self.deadline_at_ms:
            return self.expire(now_ms)
        return self._advance(now_ms)

    def mark_dispatched(self, task_ids: set[str]) -> None:
        """Record tasks someone else already dispatched (the planner agent), when rebuilding state."""
        for name, node in self._nodes.items():
            if node.state is NodeState.PENDING and task_id_for(self.request_id, name) in task_ids:
                node.state = NodeState.DISPATCHED

    def apply(self, outcome: Outcome, now_ms: float) -> Step:
        """Take a node's result. Duplicates, late results and unknown nodes change nothing."""
        node = self._nodes.get(outcome.node)
        if self.finished or node is None or node.state.terminal:
            return Step()
        node.outcome = outcome
        if outcome.failure is None:
            node.state = NodeState.DONE
            self._context[outcome.node] = outcome.value
        else:
            node.state = NodeState.FAILED
            node.error = NodeError(
                kind=outcome.failure.kind,
                message=outcome.failure.message,
                attempts=outcome.attempts,
                retriable=outcome.failure.retriable,
            )
        self._remaining -= 1
        if now_ms >= self.deadline_at_ms:
            return self.expire(now_ms)
        return self._advance(now_ms, outcome.node)

    def expire(self, now_ms: float) -> Step:
        """The deadline passed: everything unfinished is an error, the profile goes out now."""
        if self.finished:
            return Step()
        budget = f"{float(self.deadline_ms or 0):g} ms"
        for node in self._nodes.values():
            if node.state is NodeState.DISPATCHED:
                message = f"no result within the request's deadline of {budget}"
            elif node.state is NodeState.PENDING:
                message = f"not started: the request's deadline of {budget} passed first"
            else:
                continue
            node.state = NodeState.FAILED
            node.error = NodeError(kind="deadline", message=message)
        self._remaining = 0
        return Step(emission=self._finish(now_ms, deadline_passed=True))

    def _advance(self, now_ms: float, finished: str | None = None) -> Step:
        """Settle every node that may have become ready: all of them at start, else the
        dependents of the node that just ``finished`` (and, in turn, of those skipped or failed
        here). A heap keeps them in topological order, so the cost follows the nodes touched,
        not the graph's size."""
        tasks: list[Task] = []
        skipped: list[str] = []
        nodes = self._nodes
        pipeline = self.plan.pipeline
        shape = self.plan.shape
        index = shape.index
        queue = [index[n] for n in (shape.dependents[finished] if finished else shape.nodes)]
        heapq.heapify(queue)
        seen: set[int] = set()
        while queue:
            position = heapq.heappop(queue)
            if position in seen:
                continue
            seen.add(position)
            name = shape.nodes[position]
            node = nodes[name]
            if node.state is not NodeState.PENDING:
                continue
            failed: list[str] = []
            skipped_deps: list[str] = []
            waiting = False
            for dep in shape.deps[name]:  # one pass over the dependencies' states
                dep_state = nodes[dep].state
                if dep_state is NodeState.FAILED:
                    failed.append(dep)
                elif dep_state is NodeState.SKIPPED:
                    skipped_deps.append(dep)
                elif dep_state is not NodeState.DONE:
                    waiting = True
                    break
            if waiting:
                continue
            compiled = pipeline.nodes[name]
            settled = True
            try:
                if failed:
                    self._fail_after(name, sorted(failed))
                elif skipped_deps:
                    self._skip(name, f"dependency '{min(skipped_deps)}' was skipped")
                    skipped.append(name)
                elif compiled.when is not None and not _truthy(compiled.when.search(self._context)):
                    self._skip(name, f"when: {compiled.when.source} is false")
                    skipped.append(name)
                else:
                    settled = False
                    request = compiled.render_request(self._context)
            except RenderError as exc:
                self._fail(name, "render", f"cannot build the request: {exc}")
                settled = True
            if settled:
                for dependent in shape.dependents[name]:
                    heapq.heappush(queue, index[dependent])
                continue
            node.state = NodeState.DISPATCHED
            tasks.append(
                Task(
                    task_id=task_id_for(self.request_id, name),
                    request_id=self.request_id,
                    pipeline=pipeline.name,
                    config_version=pipeline.version,
                    node=name,
                    source=compiled.config.source,
                    connector=compiled.connector,
                    request=request,
                    timeout_ms=compiled.timeout_ms,
                    retries=compiled.retries,
                    deadline_at_ms=self.deadline_at_ms,
                )
            )
        emission = self._finish(now_ms, deadline_passed=False) if self._remaining == 0 else None
        return Step(tasks=tuple(tasks), skipped=tuple(skipped), emission=emission)

    def _skip(self, name: str, reason: str) -> None:
        node = self._nodes[name]
        node.state, node.skip_reason = NodeState.SKIPPED, reason
        self._context[name] = None
        self._remaining -= 1

    def _fail_after(self, name: str, failed: list[str]) -> None:
        """Fail a node whose dependencies ``failed``: for lack of time if every one of them ran out
        of time (so the profile is ``partial``, as at the deadline), else as ``dependency_failed``."""
        broken = [d for d in failed if not _out_of_time(self._nodes[d].error)]
        if broken:
            self._fail(name, "dependency_failed", f"not run: dependency '{broken[0]}' failed")
        else:
            self._fail(name, "deadline", f"not run: dependency '{failed[0]}' ran out of time")

    def _fail(self, name: str, kind: ErrorKind, message: str) -> None:
        node = self._nodes[name]
        node.state, node.error = NodeState.FAILED, NodeError(kind=kind, message=message)
        self._remaining -= 1

    def _finish(self, now_ms: float, *, deadline_passed: bool) -> Emission:
        pipeline = self.plan.pipeline
        errors: dict[str, NodeError] = {
            name: node.error for name, node in self._nodes.items() if node.error is not None
        }
        data: dict[str, Any] = {}
        lineage: dict[str, Lineage] = {}
        by_node: dict[str | None, Lineage] = {}  # fields read from one node share its lineage
        primaries = self.plan.shape.primaries
        for fname in self.plan.fields:
            expr = pipeline.fields[fname]
            if any(self._nodes[n].state is NodeState.FAILED for n in expr.nodes):
                continue
            try:
                data[fname] = expr.search(self._context)
            except RenderError as exc:
                if not any(self._nodes[n].state is NodeState.SKIPPED for n in expr.nodes):
                    errors[f"fields.{fname}"] = NodeError(kind="field", message=str(exc))
                    continue
                # A skip is not an error: ``length(skipped.items)`` is null, like ``skipped.items``.
                data[fname] = None
            primary = primaries[fname]
            found = by_node.get(primary)
            if found is None:
                found = by_node[primary] = self._lineage(primary)
            lineage[fname] = found
        required_failed = any(
            node.state is NodeState.FAILED
            and not pipeline.nodes[name].optional
            and not _out_of_time(node.error)
            for name, node in self._nodes.items()
        )
        status: Status = (
            "failed" if required_failed else ("partial" if errors or deadline_passed else "complete")
        )
        try:
            key_value = pipeline.output_key.search(self._context)
        except RenderError:
            key_value = None
        profile = Profile(
            request_id=self.request_id,
            pipeline=pipeline.name,
            config_version=pipeline.version,
            status=status,
            keys=dict(self.plan.keys),
            data=data,
            errors=errors,
            lineage=lineage,
            timing=Timing(
                received_at=iso_ms(self.received_at_ms),
                completed_at=iso_ms(now_ms),
                latency_ms=round(max(0.0, now_ms - self.received_at_ms), 3),
            ),
            trace_id=self.trace_id,
        )
        key = None if key_value is None else (key_value if isinstance(key_value, str) else str(key_value))
        self.emission = Emission(profile=profile, key=key, topic=pipeline.config.output.topic)
        return self.emission

    def _lineage(self, primary: str | None) -> Lineage:
        """Where the fields whose lineage node is ``primary`` come from (None: the request's keys)."""
        pipeline = self.plan.pipeline
        if primary is None:
            return Lineage(
                node=None,
                source="request",
                connector=None,
                config_version=pipeline.version,
                attempts=0,
                latency_ms=0.0,
                fetched_at=None,
            )
        node = self._nodes[primary]
        compiled = pipeline.nodes[primary]
        outcome = node.outcome
        notes = list(outcome.notes) if outcome else []
        if node.skip_reason:
            notes.append(f"skipped: {node.skip_reason}")
        return Lineage(
            node=primary,
            source=compiled.config.source,
            connector=compiled.connector,
            config_version=pipeline.version,
            attempts=outcome.attempts if outcome else 0,
            latency_ms=round(outcome.latency_ms, 3) if outcome else 0.0,
            fetched_at=iso_ms(outcome.fetched_at_ms) if outcome and outcome.fetched_at_ms else None,
            skipped=node.state is NodeState.SKIPPED,
            notes=notes,
        )


def _truthy(value: Any) -> bool:
    """JMESPath truthiness: false, null, and empty strings, lists and objects are false; 0 is true."""
    if value is None or value is False:
        return False
    if isinstance(value, str | list | dict):
        return len(value) > 0
    return True


OUT_OF_TIME: frozenset[ErrorKind] = frozenset({"deadline", "shed"})
"""Error kinds that say a node ran out of time rather than failed: the deadline passed or would
have before it ran (``deadline``), or its source's concurrency limit had no slot for it in time
(``shed``). A required node missing for one of these makes the profile ``partial``, not ``failed``."""


def _out_of_time(error: NodeError | None) -> bool:
    return error is not None and error.kind in OUT_OF_TIME
