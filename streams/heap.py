"""The start-up heap kept out of the cycle collector's way, for a process that serves many requests.

CPython's cycle collector walks every tracked object of the generations it
collects, and its oldest generation holds what start-up built: modules,
pydantic schemas, pipelines, clients (about 110,000 objects in the bench's
process). Under load a full collection came every ~250 requests and walked
them all, ~100 ms each on the bench machine: about 40 % of the in-process
engine's CPU, and a 100 ms stall of the event loop each time. None of that heap
becomes garbage while the process serves, so it is moved once to the permanent
generation (:func:`gc.freeze`), which collections skip; objects made later are
collected as before.
"""

from __future__ import annotations

import gc

_frozen = False


def freeze_startup_heap() -> None:
    """Collect once, then freeze what survives; only the first call per process does anything.

    Call it when start-up is over (pipelines loaded, agents built), before
    serving. What is frozen is never collected: an object of it that later
    ends in a reference cycle is not freed, which bounds the cost to what
    start-up built.
    """
    global _frozen
    if _frozen:
        return
    _frozen = True
    gc.collect()
    gc.freeze()
