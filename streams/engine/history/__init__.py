"""Execution history: decaying latency and error statistics per source and node.

Workers share it through the ``graphfetch.stats`` topic: :mod:`streams.runtime.statstopic`.
"""

from streams.engine.history.book import History, HistoryKey, Snapshot
from streams.engine.history.sketch import DecayingSketch, SketchState

__all__ = [
    "DecayingSketch",
    "History",
    "HistoryKey",
    "SketchState",
    "Snapshot",
]
