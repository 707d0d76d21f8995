"""Child processes the kernel kills when their parent dies, so a crashed tool leaves nothing running."""

from __future__ import annotations

import ctypes
import signal
import sys
from collections.abc import Callable

_PR_SET_PDEATHSIG = 1
"""From ``<sys/prctl.h>``."""


def die_with_parent() -> Callable[[], None] | None:
    """On Linux, a ``preexec_fn`` that has the kernel SIGKILL the child when its parent dies.

    The kernel ties the signal to the *thread* that started the child, so start it
    from a thread that lives as long as the child (the main or event-loop thread,
    or the event loop's executor, whose threads last until the loop closes).
    Elsewhere ``None``: best effort, stopping the child is the only clean-up.
    """
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl

    def hook() -> None:  # runs in the child between fork and exec: keep it tiny
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)

    return hook
