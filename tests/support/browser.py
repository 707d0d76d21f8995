"""Debian's Chromium driven by Playwright for Python: headless, sandbox off, no browser download.

:func:`chromium` yields a started browser; :class:`PageErrors` collects what a
page reports as console errors and uncaught exceptions, for tests to assert none.
Where Chromium is missing the test skips naming the package to install.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from playwright.async_api import Browser, ConsoleMessage, Error, Page, async_playwright

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    """Debian's Chromium (``apt-get install chromium``, which ``scripts/services`` runs)."""
    found = "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else shutil.which("chromium")
    if found is None:
        pytest.skip("Chromium is not installed: apt-get install -y chromium (scripts/services does it)")
    return found


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """A headless Chromium, closed on exit."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


class PageErrors:
    """Console errors and uncaught exceptions of a page, from when it is attached."""

    def __init__(self, page: Page) -> None:
        self.messages: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", self._error)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.messages.append(f"console: {message.text} at {message.location}")

    def _error(self, error: Error) -> None:
        self.messages.append(f"uncaught: {error.message}")
