"""The pages over views filled by hand (no broker): what they show is escaped, sensitive key values are
masked, and a console without a token refuses every change."""

from __future__ import annotations

import httpx
import yaml
from pydantic import SecretStr

from planner import parse_pipeline
from streams.console.app import create_app
from streams.console.cluster import ClusterView
from streams.settings import Settings

from .conftest import REPO, entry


def _client(*, token: str | None = None, sensitive: bool = False) -> httpx.AsyncClient:
    """The console's pages over a view nobody started: only what a test puts in it."""
    settings = Settings(configs=REPO / "configs", console_token=SecretStr(token) if token else None)
    view = ClusterView(settings)
    if sensitive:
        document = yaml.safe_load((REPO / "configs" / "customer360.yaml").read_text())
        document["keys"]["customer_id"]["sensitive"] = True
        view.catalog.folder["customer360"] = parse_pipeline(yaml.safe_dump(document), file="sensitive.yaml")
    view.profiles.add(entry("<script>alert(1)</script>", keys={"customer_id": "C00042"}))
    transport = httpx.ASGITransport(app=create_app(view))
    return httpx.AsyncClient(transport=transport, base_url="http://console")


async def test_what_a_page_shows_is_escaped() -> None:
    async with _client() as client:
        page = (await client.get("/profiles")).text
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


async def test_sensitive_key_values_are_masked_on_profile_pages() -> None:
    async with _client(sensitive=True) as client:
        listed = await client.get("/profiles")
        shown = await client.get("/profiles/%3Cscript%3Ealert(1)%3C%2Fscript%3E")
    assert "C00042" not in listed.text
    assert shown.status_code == 200
    assert "profile-status" in shown.text
    assert "C00042" not in shown.text


async def test_a_read_only_console_disables_its_forms_and_refuses_a_forged_change() -> None:
    async with _client() as client:
        page = (await client.get("/pipelines/customer360/rollback?to=3af4b578a8257ddd")).text
        refused = await client.post(
            "/pipelines/customer360/rollback", data={"to": "3af4b578a8257ddd", "token": "x"}
        )
        tried = await client.post("/try", data={"pipeline": "customer360", "key.customer_id": "C1"})
    assert 'id="confirm-rollback" disabled' in page
    assert refused.status_code == 403
    assert "read-only" in refused.text
    assert tried.status_code == 403


async def test_a_wrong_token_changes_nothing() -> None:
    async with _client(token="s3cret") as client:
        refused = await client.post(
            "/try", data={"pipeline": "customer360", "key.customer_id": "C1", "token": "guess"}
        )
    assert refused.status_code == 403
    assert "wrong token" in refused.text
    assert "s3cret" not in refused.text
