"""The console in Chromium against a real deployment (broker, worker process, demo upstreams).

Every page renders without console errors; a live figure changes while requests flow, without a
reload; a rollback from the page changes the version new requests are planned with; a bad request
appears on the DLQ page and can be re-submitted; the try form shows the profile. Pages that are not
live are opened again until the console has read what a test wrote (it reads asynchronously, and
reloading is what an operator does). Nothing asserts on time.
"""

from __future__ import annotations

import base64
import json
import re
import uuid

import pytest
import yaml
from playwright.async_api import expect

from planner import parse_pipeline
from streams.liveconfig.configtopic import ActiveRecord, VersionRecord, now_iso, publish_records
from tests.integration.runtime.conftest import PIPELINE, Runtime, Upstreams

from .conftest import TOKEN, Tab

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

WAIT_S = 60.0
RECHECK_MS = 500


async def _open_until(tab: Tab, path: str, selector: str, *, what: str) -> None:
    """Open ``path`` again until ``selector`` matches on it; fail naming ``what`` after :data:`WAIT_S`."""
    for _ in range(int(WAIT_S * 1000 / RECHECK_MS)):
        await tab.open(path)
        if await tab.page.locator(selector).count():
            return
        await tab.page.wait_for_timeout(RECHECK_MS)  # the console has not read it yet: look again shortly
    raise AssertionError(f"not within {WAIT_S:g} s: {what}\n{tab.console.logs()}")


async def _request(deployment: Runtime, customer: str = "C00042") -> str:
    rid = f"console-test-{uuid.uuid4().hex[:10]}"
    await deployment.send([{"request_id": rid, "pipeline": PIPELINE, "keys": {"customer_id": customer}}])
    return rid


async def _version_of_a_new_request(deployment: Runtime) -> str:
    rid = await _request(deployment)
    profile = (await deployment.wait_for_profiles([rid], timeout_s=WAIT_S))[rid]
    return str(profile.value["config_version"])


async def _until_new_requests_get(deployment: Runtime, version: str) -> None:
    seen = []
    for _ in range(30):  # each round trip waits for its profile: bounded by WAIT_S each
        seen.append(await _version_of_a_new_request(deployment))
        if seen[-1] == version:
            return
    raise AssertionError(f"new requests never got version {version} (got {seen})")


async def test_a_live_figure_changes_while_requests_flow(tab: Tab, deployment: Runtime) -> None:
    await tab.open("/health")
    await expect(tab.page.locator("#live-status")).to_have_text("live")
    await tab.page.evaluate("window.sameDocument = true")
    before = int(await tab.page.locator("#window-profiles").inner_text())
    ids = [await _request(deployment, f"C{i:05d}") for i in range(1, 11)]
    await deployment.wait_for_profiles(ids, timeout_s=WAIT_S)
    await tab.page.wait_for_function(
        "wanted => Number(document.getElementById('window-profiles').textContent) >= wanted",
        arg=before + len(ids),
        timeout=WAIT_S * 1000,
    )
    assert await tab.page.evaluate("window.sameDocument === true"), "the page was reloaded, not updated"
    assert tab.errors.messages == []


async def test_a_source_down_shows_its_breaker_open_on_the_health_page(
    tab: Tab, deployment: Runtime, upstreams: Upstreams
) -> None:
    await tab.open("/health")
    await expect(tab.page.locator("#live-status")).to_have_text("live")
    state = "#source-customer360-support-state"  # support serves tickets, an optional node
    await expect(tab.page.locator(state)).to_have_text("closed", timeout=WAIT_S * 1000)
    upstreams.set_faults("support", down=True)
    ids = [await _request(deployment, f"C{i:05d}") for i in range(20, 30)]
    await deployment.wait_for_profiles(ids, timeout_s=WAIT_S)
    # The worker publishes its sources' states beside its history, every stats interval.
    await expect(tab.page.locator(state)).to_have_text(
        re.compile(r"^(open|half_open)"), timeout=WAIT_S * 1000
    )
    assert tab.errors.messages == []


async def test_a_rollback_from_the_page_changes_the_version_new_requests_get(
    tab: Tab, deployment: Runtime
) -> None:
    path = deployment.settings.configs / "customer360.yaml"
    first_text = path.read_text()
    first = parse_pipeline(first_text, file=str(path))
    config = yaml.safe_load(first_text)
    config["defaults"]["timeout_ms"] = 2500
    second_text = yaml.safe_dump(config, sort_keys=False)
    second = parse_pipeline(second_text, file="pushed")
    at = now_iso()
    await publish_records(
        deployment.settings,
        [
            VersionRecord(
                pipeline=PIPELINE, version=first.version, text=first_text, file=str(path), pushed_at=at
            ),
            VersionRecord(pipeline=PIPELINE, version=second.version, text=second_text, pushed_at=at),
            ActiveRecord(pipeline=PIPELINE, version=second.version, at=at),
        ],
    )
    await _until_new_requests_get(deployment, second.version)

    link = f'a[href="/pipelines/{PIPELINE}/rollback?to={first.version}"]'
    await _open_until(tab, f"/pipelines/{PIPELINE}", link, what="the pushed versions on the pipeline page")
    await tab.page.click(link)
    await expect(tab.page.locator("h1")).to_contain_text(f"Roll back {PIPELINE}?")
    await tab.page.fill("input[name=token]", "not-the-token")
    await tab.page.click("#confirm-rollback")
    await expect(tab.page.locator(".error")).to_contain_text("wrong token")
    assert await _version_of_a_new_request(deployment) == second.version, "a wrong token changed the version"
    assert [m for m in tab.errors.messages if "403 (Forbidden)" not in m] == []
    tab.errors.messages.clear()  # Chromium reports the refusal's status 403 as a console error

    await tab.page.fill("input[name=token]", TOKEN)
    await tab.page.click("#confirm-rollback")
    await expect(tab.page.locator(".notice")).to_contain_text(f"version {first.version}")
    await _until_new_requests_get(deployment, first.version)
    assert await _version_of_a_new_request(deployment) == first.version
    assert tab.errors.messages == []


async def test_a_bad_request_appears_on_the_dlq_page_and_is_resubmitted(
    tab: Tab, deployment: Runtime
) -> None:
    rid = f"dlq-{uuid.uuid4().hex[:10]}"
    value = json.dumps({"request_id": rid, "pipeline": PIPELINE, "keys": {}}).encode()  # no customer_id
    [meta] = await deployment.send_raw([(rid.encode(), value)])
    row = f"#dead-letters tr:has-text('{rid}')"
    await _open_until(tab, "/dlq", row, what=f"dead letter {rid} on the DLQ page")
    text = await tab.page.locator(row).inner_text()
    assert "missing_key" in text
    assert f"{deployment.settings.requests_topic}[{meta.partition}]@{meta.offset}" in text

    encoded = base64.b64encode(value).decode()

    def letters() -> int:
        return sum(1 for r in deployment.dead_letters.received if r.value.get("value") == encoded)

    await tab.page.fill("#resubmit input[name=token]", TOKEN)
    await tab.page.locator(row).locator("button").click()
    await expect(tab.page.locator(".notice")).to_contain_text("re-submitted")
    # The same bytes went back to the requests topic and, the pipeline unchanged, were refused again.
    assert await deployment.dead_letters.wait_until(lambda: letters() == 2, timeout_s=WAIT_S)
    assert tab.errors.messages == []


async def test_the_try_form_shows_the_profile(tab: Tab, deployment: Runtime) -> None:
    await tab.open("/try")
    await tab.page.fill("input[name='key.customer_id']", "C00042")
    await tab.page.fill("input[name=token]", TOKEN)
    await tab.page.click("#send")
    await expect(tab.page.locator("#profile-status")).to_have_text(
        re.compile("complete|partial"), timeout=WAIT_S * 1000
    )
    assert "Yara Costa" in await tab.page.locator("#profile-data").inner_text()
    assert "/profiles/console-" in tab.page.url
    assert tab.errors.messages == []


PAGES = {
    "pipelines": ("/pipelines", "Pipelines"),
    "pipeline": (f"/pipelines/{PIPELINE}", PIPELINE),
    "health": ("/health", "Live health"),
    "profiles": ("/profiles", "Profiles"),
    "dlq": ("/dlq", "Dead-letter queue"),
    "workers": ("/workers", "Workers and groups"),
    "try": ("/try", "Try a request"),
}


async def test_every_page_renders_without_console_errors(tab: Tab, deployment: Runtime) -> None:
    for name, (path, title) in PAGES.items():
        await tab.open(path)
        await expect(tab.page.locator("h1")).to_contain_text(title)
        if name == "pipeline" and await tab.page.locator("#versions button").count():
            await tab.page.click("#versions button")  # the diff of the two newest versions
            await expect(tab.page.locator("pre.diff")).to_be_visible()
        if name == "health":
            await expect(tab.page.locator("#live-status")).to_have_text("live")
        if name == "workers":  # each role's group has the worker as a member, named by its worker id
            for role in ("planner", "connector", "aggregator"):
                await expect(tab.page.locator(f"#group-{role} .member")).to_contain_text(f"-{role}")
    rid = await _request(deployment)
    await deployment.wait_for_profiles([rid], timeout_s=WAIT_S)
    await _open_until(tab, f"/profiles/{rid}", "#profile-status", what=f"profile {rid}")
    assert tab.errors.messages == []
