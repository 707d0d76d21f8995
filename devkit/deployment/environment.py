"""What a ``graphfetch`` child process is run with: the caller's environment, less what would steer it.

Variables a developer's shell may carry (``GRAPHFETCH_*``, ``OTEL_*``, the demo
configs' upstream URLs, token and DSN) would change what a worker does; a
deployment sets its own.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

SOURCE_VARIABLES = (
    "CRM_URL",
    "ORDERS_URL",
    "ORDERS_TOKEN",
    "SUPPORT_URL",
    "LOYALTY_URL",
    "RISK_URL",
    "WAREHOUSE_DSN",
)
"""What ``configs/customer360.yaml`` reads to find its sources (:meth:`DemoUpstreams.env` sets them)."""
_SCRUBBED_PREFIXES = ("GRAPHFETCH_", "OTEL_")


def inherited_env() -> dict[str, str]:
    """``os.environ`` without the variables that would steer a graphfetch process."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(_SCRUBBED_PREFIXES) and k not in SOURCE_VARIABLES
    }


def graphfetch_command() -> list[str]:
    """``graphfetch`` of this interpreter's environment (its console script, else the module)."""
    script = Path(sys.executable).with_name("graphfetch")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from streams.cli.main import main; main()"]
