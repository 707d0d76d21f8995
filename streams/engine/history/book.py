"""A worker's execution history: decaying latency and error statistics per source and per node.

Each worker records its own fetches (:meth:`History.observe`) and receives its
peers' latest snapshots (:meth:`History.merge_peer`); every query answers from
its own observations and its peers' together, so a worker that has fetched
nothing yet already knows what the cluster has seen.

Latency is recorded for successful fetches only. A failure's latency is its
timeout or a fast refusal: counting it would pull the tail towards whatever
timeout is configured, and a timeout derived from that tail would chase
itself. Failures count in the error rate.

Memory is bounded: at most ``max_keys`` keys of its own (the least recently
observed is dropped), at most ``max_peers`` peers (the one with the oldest
snapshot is dropped), and query views for at most ``max_keys`` keys.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from streams.engine.history.sketch import RENORMALISE_AFTER_HALF_LIVES, DecayingSketch, SketchState

__all__ = ["SNAPSHOT_SCHEMA", "History", "HistoryKey", "Snapshot"]

SNAPSHOT_SCHEMA = 1
Kind = Literal["source", "node"]
Clock = Callable[[], float]
LANDMARK_MOVES_AFTER_HALF_LIVES = RENORMALISE_AFTER_HALF_LIVES / 2


@dataclass(frozen=True, slots=True)
class HistoryKey:
    """What statistics are kept for: a source or a node of one pipeline."""

    kind: Kind
    pipeline: str
    name: str

    @classmethod
    def source(cls, pipeline: str, source: str) -> HistoryKey:
        return cls("source", pipeline, source)

    @classmethod
    def node(cls, pipeline: str, node: str) -> HistoryKey:
        return cls("node", pipeline, node)

    def __str__(self) -> str:
        return f"{self.kind}:{self.pipeline}/{self.name}"


class SnapshotEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Kind
    pipeline: str
    name: str
    stats: SketchState


class Snapshot(BaseModel):
    """One worker's own observations, as published on the stats topic."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_: Literal[1] = Field(alias="schema", description="Format version of this document.")
    at_s: float = Field(description="Epoch seconds the snapshot was taken (its counts are decayed to it).")
    keys: list[SnapshotEntry] = Field(description="Most recently observed first.")


@dataclass(frozen=True, slots=True)
class _Peer:
    at_s: float
    sketches: dict[HistoryKey, DecayingSketch]


class History:
    """Decaying per-source and per-node statistics of this worker and its peers."""

    def __init__(
        self,
        *,
        half_life_s: float = 300.0,
        relative_accuracy: float = 0.01,
        min_samples: float = 20,
        max_keys: int = 1024,
        max_peers: int = 256,
        clock: Clock = time.time,
    ) -> None:
        if max_keys < 1 or max_peers < 0:
            raise ValueError("max_keys must be at least 1 and max_peers at least 0")
        self.half_life_s = half_life_s
        self.relative_accuracy = relative_accuracy
        self.min_samples = min_samples
        self.max_keys = max_keys
        self.max_peers = max_peers
        self.clock = clock
        self._landmark_s = clock()
        self._own: OrderedDict[HistoryKey, DecayingSketch] = OrderedDict()
        self._peers: dict[str, _Peer] = {}
        # Own + peers per key, built on the first query and kept current by observe().
        self._views: OrderedDict[HistoryKey, DecayingSketch] = OrderedDict()

    # -- recording ---------------------------------------------------------------

    def observe(self, *, pipeline: str, node: str, source: str, latency_ms: float, ok: bool) -> None:
        """Record one finished fetch of ``node`` from ``source``: its latency (if ok) and outcome."""
        at_s = self.clock()
        self._advance_landmark(at_s)
        for key in (HistoryKey.node(pipeline, node), HistoryKey.source(pipeline, source)):
            own = self._own_sketch(key)
            view = self._views.get(key)
            for sketch in (own,) if view is None or view is own else (own, view):
                if ok:
                    sketch.add(latency_ms, at_s=at_s)
                sketch.add_outcome(ok=ok, at_s=at_s)

    def _advance_landmark(self, now_s: float) -> None:
        """Keep one landmark for every sketch held, so that views merge without scaling.

        Moved well before a sketch would move its own (weights stay far from float limits).
        """
        if now_s - self._landmark_s <= LANDMARK_MOVES_AFTER_HALF_LIVES * self.half_life_s:
            return
        self._landmark_s = now_s
        for sketch in self._own.values():
            sketch.move_landmark(now_s)
        for peer in self._peers.values():
            for sketch in peer.sketches.values():
                sketch.move_landmark(now_s)
        self._views.clear()

    def _own_sketch(self, key: HistoryKey) -> DecayingSketch:
        sketch = self._own.get(key)
        if sketch is not None:
            self._own.move_to_end(key)
            return sketch
        sketch = DecayingSketch(
            relative_accuracy=self.relative_accuracy,
            half_life_s=self.half_life_s,
            landmark_s=self._landmark_s,
        )
        self._own[key] = sketch
        self._views.pop(key, None)  # a view built without this key's own sketch is out of date
        if len(self._own) > self.max_keys:
            dropped, _ = self._own.popitem(last=False)
            self._views.pop(dropped, None)
        return sketch

    # -- queries ---------------------------------------------------------------

    def quantile_ms(self, key: HistoryKey, q: float) -> float | None:
        """Latency at quantile ``q`` of successful fetches; None below ``min_samples`` (decayed)."""
        view = self._view(key)
        if view is None or view.count(at_s=self.clock()) < self.min_samples:
            return None
        return view.quantile(q)

    def error_rate(self, key: HistoryKey) -> float | None:
        """Share of failed fetches; None below ``min_samples`` decayed outcomes."""
        view = self._view(key)
        if view is None or sum(view.outcomes(at_s=self.clock())) < self.min_samples:
            return None
        return view.error_rate()

    def count(self, key: HistoryKey) -> float:
        """Decayed number of fetches (successes and failures) of this worker and its peers."""
        view = self._view(key)
        return sum(view.outcomes(at_s=self.clock())) if view is not None else 0.0

    def known_keys(self) -> list[HistoryKey]:
        """Every key known from this worker or a peer."""
        known = dict.fromkeys(self._own)
        for peer in self._peers.values():
            known.update(dict.fromkeys(peer.sketches))
        return list(known)

    def _view(self, key: HistoryKey) -> DecayingSketch | None:
        view = self._views.get(key)
        if view is not None:
            self._views.move_to_end(key)
            return view
        own = self._own.get(key)
        peers = [p.sketches[key] for p in self._peers.values() if key in p.sketches]
        mine = [own] if own is not None else []
        # Without peers for the key, the view is the own sketch itself, which observe() keeps current.
        view = DecayingSketch.combined([*mine, *peers]) if peers else own
        if view is None:
            return None
        self._views[key] = view
        if len(self._views) > self.max_keys:
            self._views.popitem(last=False)
        return view

    # -- sharing ---------------------------------------------------------------

    def snapshot(self, *, max_keys: int | None = None) -> dict[str, Any]:
        """This worker's own observations as JSON-able data, most recently observed keys first."""
        at_s = self.clock()
        entries: list[dict[str, Any]] = []
        for key in reversed(self._own):
            if max_keys is not None and len(entries) >= max_keys:
                break
            stats = self._own[key].to_json(at_s=at_s)
            if stats["bins"] or stats["zero"] or stats["ok"] or stats["failed"]:
                entries.append({"kind": key.kind, "pipeline": key.pipeline, "name": key.name, "stats": stats})
        return {"schema": SNAPSHOT_SCHEMA, "at_s": at_s, "keys": entries}

    def merge_peer(self, worker_id: str, snapshot: Mapping[str, Any]) -> bool:
        """Take a peer's latest snapshot in place of its previous one; False if older than the one held.

        Raises ValueError when the snapshot is malformed or was made with a
        different accuracy or half-life (it cannot be combined with ours).
        """
        try:
            parsed = Snapshot.model_validate(snapshot)
        except ValidationError as exc:
            problem = exc.errors()[0]
            where = ".".join(str(p) for p in problem["loc"]) or "snapshot"
            raise ValueError(f"snapshot of {worker_id} is malformed at {where}: {problem['msg']}") from None
        previous = self._peers.get(worker_id)
        if previous is not None and previous.at_s > parsed.at_s:
            return False
        self._advance_landmark(self.clock())
        sketches: dict[HistoryKey, DecayingSketch] = {}
        for entry in parsed.keys:
            stats = entry.stats
            if stats.relative_accuracy != self.relative_accuracy or stats.half_life_s != self.half_life_s:
                raise ValueError(
                    f"snapshot of {worker_id} uses accuracy {stats.relative_accuracy} and half-life "
                    f"{stats.half_life_s} s; this worker uses {self.relative_accuracy} and "
                    f"{self.half_life_s} s: configure every worker alike"
                )
            sketches[HistoryKey(entry.kind, entry.pipeline, entry.name)] = DecayingSketch.from_json(
                stats, landmark_s=self._landmark_s
            )
        self._set_peer(worker_id, _Peer(at_s=parsed.at_s, sketches=sketches))
        return True

    def drop_peer(self, worker_id: str) -> None:
        """Forget a peer's observations (its record on the topic was deleted)."""
        self._set_peer(worker_id, None)

    def peers(self) -> list[str]:
        return list(self._peers)

    def _set_peer(self, worker_id: str, peer: _Peer | None) -> None:
        previous = self._peers.pop(worker_id, None)
        self._forget_views(previous.sketches if previous else ())
        if peer is None or self.max_peers == 0:
            return
        self._peers[worker_id] = peer
        self._forget_views(peer.sketches)
        if len(self._peers) > self.max_peers:
            oldest = min(self._peers, key=lambda w: self._peers[w].at_s)
            self._forget_views(self._peers.pop(oldest).sketches)

    def _forget_views(self, keys: Iterable[HistoryKey]) -> None:
        for key in keys:
            self._views.pop(key, None)
