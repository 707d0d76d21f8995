"""Adaptive orchestration: decisions a worker takes from its execution history, each explained.

- :mod:`~streams.engine.adaptive.decisions`: pure rules (adaptive timeout, hedge delay,
  deadline check) that return the decision and the sentence explaining it;
- :mod:`~streams.engine.adaptive.fetcher`: one fetch with those decisions, the TTL cache
  and request coalescing around :class:`~connectors.ResilientSource`;
- :mod:`~streams.engine.adaptive.priority` and :mod:`~streams.engine.adaptive.gate`:
  critical-path-first admission on a saturated worker.
"""
