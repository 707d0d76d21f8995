"""The environment a test hands to a ``graphfetch`` process: the caller's, less what would steer it.

Variables a developer's shell may carry (``GRAPHFETCH_*``, ``OTEL_*``, the demo
configs' upstream URLs and DSN) would change what a worker does; a test sets
its own.
"""

from __future__ import annotations

import os

__all__ = ["inherited_env"]

_SCRUBBED_PREFIXES = ("GRAPHFETCH_", "OTEL_")
_SCRUBBED = (
    "CRM_URL",
    "ORDERS_URL",
    "ORDERS_TOKEN",
    "SUPPORT_URL",
    "LOYALTY_URL",
    "RISK_URL",
    "WAREHOUSE_DSN",
)


def inherited_env() -> dict[str, str]:
    """``os.environ`` without the variables that would steer a graphfetch process."""
    return {
        k: v for k, v in os.environ.items() if not k.startswith(_SCRUBBED_PREFIXES) and k not in _SCRUBBED
    }
