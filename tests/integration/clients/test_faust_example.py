"""The faust-streaming example (examples/faust), in its own venv (examples/faust/README.md says why):
its Records declare graphfetch's event models, and the app gets profiles from worker processes."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from pydantic import BaseModel

from planner import Lineage, NodeError, Profile, Timing
from streams.events import RequestEvent
from tests.support.budgets import UNHURRIED
from tests.support.tools import REPO, require
from tests.support.waiting import until

if TYPE_CHECKING:
    from tests.integration.clients.conftest import Runtime

pytestmark = pytest.mark.integration

EXAMPLE = REPO / "examples" / "faust"
PYTHON = EXAMPLE / ".venv" / "bin" / "python"
MODELS: dict[str, type[BaseModel]] = {
    "Request": RequestEvent,
    "Profile": Profile,
    "Lineage": Lineage,
    "NodeError": NodeError,
    "Timing": Timing,
}
CUSTOMERS = ("C00042", "C00007")
PROFILE_LINE = re.compile(r"\bprofile (\S+) (\S+) name=")


def _require_venv() -> None:
    require(
        PYTHON.exists(),
        what="the faust example's venv",
        install="run scripts/tools (makes examples/faust/.venv)",
    )


def test_the_faust_records_declare_exactly_the_models_fields() -> None:
    _require_venv()
    script = (
        "import json, graphfetch_records as r; "
        f"print(json.dumps({{n: sorted(getattr(r, n)._options.fields) for n in {sorted(MODELS)!r}}}))"
    )
    out = subprocess.run([str(PYTHON), "-c", script], cwd=EXAMPLE, capture_output=True, text=True, check=True)
    declared = json.loads(out.stdout)
    for name, model in MODELS.items():
        assert declared[name] == sorted(model.model_fields), f"{name} differs from {model.__name__}"


async def test_the_faust_example_sends_requests_and_consumes_their_profiles(
    runtime: Runtime, unique_name: str, tmp_path: Path
) -> None:
    _require_venv()
    runtime.write_pipeline(defaults=UNHURRIED)  # complete profiles, however loaded the machine
    await runtime.start(workers=1)
    env = {
        **os.environ,
        "GRAPHFETCH_BOOTSTRAP": runtime.bootstrap,
        "GRAPHFETCH_REQUESTS_TOPIC": runtime.settings.requests_topic,
        "PROFILES_TOPIC": runtime.output_topic,
        "CUSTOMERS": ",".join(CUSTOMERS),
        "APP_ID": unique_name,
        "DATA_DIR": str(tmp_path / "faust-data"),
    }
    env.pop("PYTHONPATH", None)  # the example's venv, not graphfetch's code
    log = tmp_path / "faust.log"
    with log.open("w") as out:
        app = subprocess.Popen(
            [str(PYTHON), "app.py", "worker", "-l", "warn"],
            cwd=EXAMPLE,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:

        def profile_lines() -> list[tuple[str, str]]:
            """(request id, status) of each profile line (faust prefixes what the app prints)."""
            return PROFILE_LINE.findall(log.read_text())

        def all_answered() -> bool:
            if app.poll() is not None:
                raise AssertionError(
                    f"the faust app exited with {app.returncode}:\n{log.read_text()[-3000:]}"
                )
            return len(profile_lines()) >= len(CUSTOMERS)

        try:
            await until(all_answered, timeout_s=90, interval_s=0.2, what="a profile line per request")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; the app's log:\n{log.read_text()[-3000:]}") from None
        lines = profile_lines()
        assert {status for _, status in lines} == {"complete"}, lines
        assert sorted(request_id.rsplit("-", 1)[1] for request_id, _ in lines) == sorted(CUSTOMERS)
    finally:
        app.send_signal(signal.SIGTERM)
        try:
            app.wait(timeout=30)
        except subprocess.TimeoutExpired:
            app.kill()
            app.wait()
    assert not any(line.startswith("Traceback") for line in log.read_text().splitlines()), log.read_text()[
        -3000:
    ]
