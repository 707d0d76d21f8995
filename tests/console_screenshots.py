"""Screenshots of every console page, for docs/console.md: Chromium (Playwright) against a running console.

Run: ``.venv/bin/python tests/console_screenshots.py URL [FOLDER]`` (``FOLDER`` defaults to
``docs/images``) with ``graphfetch dev`` (or any console) serving ``URL`` and some traffic
flowing. Not a test: it fails only when a page reports a console error. The pipeline page is
shot with the diff of its two newest versions when it has two.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script: tests.support importable

from playwright.async_api import FloatRect

from tests.support.browser import PageErrors, chromium

FIRST_SCREEN_PX = 900
# name, path, whole page (else its first 900 pixels)
PAGES = [
    ("pipelines", "pipelines", True),
    ("pipeline", "pipelines/customer360", True),
    ("health", "health", True),
    ("profiles", "profiles", False),
    ("dlq", "dlq", False),
    ("workers", "workers", True),
    ("try", "try", True),
]


async def _shoot(url: str, folder: Path) -> list[str]:
    async with chromium() as browser:
        page = await browser.new_page(viewport={"width": 1360, "height": 560})
        errors = PageErrors(page)
        for name, path, whole in PAGES:
            await page.goto(url + path)
            if name == "pipeline" and await page.locator("#versions button").count():
                await page.click("#versions button")
            if name == "health":
                await page.locator("#live-status", has_text="live").wait_for()
                await page.wait_for_timeout(2500)  # let the changed-figure flashes fade
            target = str(folder / f"console-{name}.png")
            if whole:
                await page.screenshot(path=target, full_page=True)
            else:
                await page.screenshot(
                    path=target, full_page=True, clip=FloatRect(x=0, y=0, width=1360, height=FIRST_SCREEN_PX)
                )
        await page.goto(url + "profiles")
        first = await page.locator("#profiles tbody a").first.get_attribute("href")
        if first:
            await page.goto(url + first.lstrip("/"))
            await page.screenshot(path=str(folder / "console-profile.png"), full_page=True)
        return errors.messages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("url", help="the console's URL, e.g. http://127.0.0.1:8780/")
    parser.add_argument("folder", nargs="?", type=Path, default=Path("docs/images"))
    args = parser.parse_args()
    url = args.url if args.url.endswith("/") else args.url + "/"
    messages = asyncio.run(_shoot(url, args.folder))
    if messages:
        raise SystemExit("\n".join(messages))


if __name__ == "__main__":
    main()
