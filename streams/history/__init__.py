"""Execution history: decaying latency and error statistics per source and node, shared by workers."""

from streams.history.book import History, HistoryKey, Snapshot
from streams.history.sketch import DecayingSketch, SketchState
from streams.history.statstopic import StatsOptions, StatsSync, default_worker_id, stats_topic_spec

__all__ = [
    "DecayingSketch",
    "History",
    "HistoryKey",
    "SketchState",
    "Snapshot",
    "StatsOptions",
    "StatsSync",
    "default_worker_id",
    "stats_topic_spec",
]
