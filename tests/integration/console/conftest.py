"""One deployment for the module's browser tests: workers, demo upstreams, ``graphfetch console``, Chromium.

* ``deployment`` (per module): the runtime tests' :class:`Runtime` (worker
  processes on the session's broker with topics and groups of its own, the
  demo upstreams in a child process), started with one worker;
* ``console`` (per module): ``graphfetch console --port 0`` as a child process
  of that deployment with the token :data:`TOKEN`; its URL is read from the
  line it prints;
* ``page`` (per test): a fresh Chromium page (Playwright for Python, Debian's
  ``/usr/bin/chromium``, headless), with its console errors collected.

Module-scoped fixtures run on the module's event loop, and so do the tests
(``loop_scope="module"``): starting workers once keeps the folder near a minute.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import pytest_asyncio

pytest.importorskip(
    "playwright.async_api", reason="the browser tests need playwright: pip install -e '.[test]'"
)

from playwright.async_api import Browser, Page

from devkit.deployment.child import Child
from devkit.deployment.environment import graphfetch_command, inherited_env
from tests.integration.runtime.conftest import Runtime, Upstreams, _healthy_upstreams, upstreams
from tests.support.browser import PageErrors, chromium
from tests.support.waiting import until

__all__ = ["Console", "_healthy_upstreams", "upstreams"]

TOKEN = "console-test-token"
STARTUP_TIMEOUT_S = 60.0
_URL = re.compile(r"^console\s+(http://\S+/)", re.MULTILINE)


@dataclass(kw_only=True)
class Console:
    url: str
    child: Child

    def logs(self) -> str:
        return self.child.log_tail(40)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def deployment(
    kafka_bootstrap: str, upstreams: Upstreams, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Runtime]:
    workdir = tmp_path_factory.mktemp("console")
    runtime = Runtime(
        bootstrap=kafka_bootstrap,
        name=f"console-{uuid.uuid4().hex[:8]}",
        workdir=workdir,
        upstreams=upstreams,
    )
    try:
        runtime.tracing = True  # profiles carry trace ids, so the profile page links to Jaeger
        runtime.write_pipeline(defaults={"timeout_ms": 2000, "deadline_ms": 10000})
        await runtime.start(workers=1)
        yield runtime
    finally:
        await runtime.close()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def console(deployment: Runtime) -> AsyncIterator[Console]:
    env = {
        **inherited_env(),
        **deployment.upstreams.env(),
        **deployment.settings.deployment_env(),
        "GRAPHFETCH_CONSOLE_TOKEN": TOKEN,
        "OTEL_SDK_DISABLED": "true",
    }
    log_path = deployment.workdir / "console.log"
    child = Child.spawn(
        "console",
        [*graphfetch_command(), "console", "--port", "0", "--log-level", "INFO"],
        env=env,
        cwd=deployment.workdir,
        log_path=log_path,
    )
    try:
        found: list[str] = []

        def announced() -> bool:
            if not child.alive:
                raise AssertionError(f"graphfetch console exited:\n{child.log_tail()}")
            found[:] = _URL.findall(log_path.read_text(errors="replace"))
            return bool(found)

        await until(announced, timeout_s=STARTUP_TIMEOUT_S, what="graphfetch console printing its URL")
        yield Console(url=found[0], child=child)
    finally:
        await child.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as started:
        yield started


@dataclass(kw_only=True)
class Tab:
    """A page of the console with its errors; ``open(path)`` navigates relative to the console's URL."""

    page: Page
    errors: PageErrors
    console: Console

    async def open(self, path: str) -> None:
        response = await self.page.goto(self.console.url + path.lstrip("/"))
        assert response is not None, path
        assert response.ok, f"{path}: {response.status}\n{self.console.logs()}"


@pytest_asyncio.fixture(loop_scope="module")
async def tab(browser: Browser, console: Console) -> AsyncIterator[Tab]:
    context = await browser.new_context(viewport={"width": 1360, "height": 900})
    page = await context.new_page()
    page.set_default_timeout(30_000)
    try:
        yield Tab(page=page, errors=PageErrors(page), console=console)
    finally:
        await context.close()
