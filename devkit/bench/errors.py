"""The bench's errors: one base, so the CLI reports any of them as a message, not a traceback.

::

    BenchError              the bench cannot run as asked
    ├── FloorError          an upstream call of the floor failed
    └── KafkaRuntimeError   a worker died or a request got no profile in time

The deployment's own (:class:`devkit.deployment.errors.UpstreamsError`, the demo
upstreams did not start) are graphfetch errors, which the CLI reports the same way.
"""

from __future__ import annotations


class BenchError(RuntimeError):
    """The bench cannot run as asked; the message says what happened and what to change."""


class FloorError(BenchError):
    """An upstream call of the floor failed: the upstreams are not serving as the bench set them up."""


class KafkaRuntimeError(BenchError):
    """A worker died or a request got no profile in time; the message carries the worker logs."""
