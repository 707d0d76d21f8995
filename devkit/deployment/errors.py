"""The harness's errors: graphfetch errors, so the ``bench`` command reports them as a message.

::

    GraphfetchError
    └── DeploymentError     a deployment could not start or lost a process it needs
        └── UpstreamsError  the demo upstreams did not start
"""

from __future__ import annotations

from planner.errors import GraphfetchError


class DeploymentError(GraphfetchError):
    """A deployment could not start or lost a process it needs; the message quotes the logs."""


class UpstreamsError(DeploymentError):
    """The demo upstreams did not start; the message carries their output."""
