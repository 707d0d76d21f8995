"""The in-process engine and the fetch path both runtimes share; no Kafka here.

* :mod:`~streams.engine.inprocess`: :class:`~streams.engine.inprocess.InProcessEngine`,
  a whole request in one process (``graphfetch run``, the bench's in-process target).
* :mod:`~streams.engine.execution`, :mod:`~streams.engine.sources`, :mod:`~streams.engine.outcomes`:
  one task run against its source, the source pool, outcomes from fetch results.
* :mod:`~streams.engine.adaptive`, :mod:`~streams.engine.cache`, :mod:`~streams.engine.history`:
  adaptive decisions, the fetch cache and the execution history they learn from.

The Kafka runtime (:mod:`streams.runtime`) imports this package; nothing here imports it.
"""
