"""A worker's configs folder, watched: valid changes are served, invalid ones rejected, removals honoured."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from streams.liveconfig.catalog import load_catalog
from streams.liveconfig.configsync import ConfigSync
from streams.liveconfig.store import PipelineStore
from streams.settings import Settings
from tests.support.waiting import until

CONFIGS = Path(__file__).parents[3] / "configs"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    shutil.copy(CONFIGS / "customer360.yaml", tmp_path / "customer360.yaml")
    shutil.copy(CONFIGS / "order_tracking.yaml", tmp_path / "order_tracking.yaml")
    return tmp_path


def _sync(folder: Path) -> tuple[ConfigSync, PipelineStore, dict[str, int]]:
    store = PipelineStore(load_catalog([folder]))
    counts: dict[str, int] = {}

    def count(name: str) -> None:
        counts[name] = counts.get(name, 0) + 1

    return ConfigSync(Settings(configs=folder), store, count=count), store, counts


async def test_edited_file_is_served_after_the_watcher_sees_it(folder: Path) -> None:
    sync, store, counts = _sync(folder)
    before = store.current("customer360")
    assert before is not None
    path = folder / "customer360.yaml"
    edited = path.read_text().replace(
        "  risk: risk.level\n", "  risk: risk.level\n  country: customer.country\n"
    )

    def served() -> bool:
        current = store.current("customer360")
        return current is not None and current.version != before.version

    watcher = asyncio.ensure_future(sync.watch_folder())
    try:
        # watchfiles gives no sign that its watch has begun, and a write made before then is never
        # seen: instead of sleeping "long enough", write again every second until the edit is served
        # (the same text written again activates nothing new).
        await until(
            served,
            timeout_s=30.0,
            what="the watcher serves the edited customer360.yaml",
            interval_s=0.05,
            redo=lambda: path.write_text(edited),
        )
    finally:
        sync.stop()
        await asyncio.wait_for(watcher, 5)
    after = store.current("customer360")
    assert after is not None
    assert "country" in after.fields
    assert store.known_version("customer360", before.version) is before  # requests in flight can finish
    assert counts["configs.activated"] == 1


def test_invalid_edit_is_rejected_and_the_previous_version_keeps_serving(
    folder: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sync, store, counts = _sync(folder)
    before = store.current("customer360")
    path = folder / "customer360.yaml"
    path.write_text(path.read_text().replace("source: warehouse", "source: warehous"))
    sync.reload_folder()
    assert store.current("customer360") is before
    assert counts == {"configs.rejected": 1}
    assert "node 'credit': source: unknown source 'warehous'" in caplog.text


def test_deleted_file_removes_its_pipeline_and_a_new_file_adds_one(folder: Path) -> None:
    sync, store, counts = _sync(folder)
    (folder / "order_tracking.yaml").rename(folder / "order_tracking.yaml.off")
    sync.reload_folder()
    assert store.current("order_tracking") is None
    assert store.was_removed("order_tracking")
    text = (
        (folder / "customer360.yaml").read_text().replace("pipeline: customer360", "pipeline: customer360_eu")
    )
    (folder / "customer360_eu.yaml").write_text(text)
    sync.reload_folder()
    assert store.current("customer360_eu") is not None
    assert counts == {"configs.removed": 1, "configs.activated": 1}
