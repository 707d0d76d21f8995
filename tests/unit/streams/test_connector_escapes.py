"""A runtime renders requests with the escapes of each node's connector, however it got the pipeline."""

from __future__ import annotations

from pathlib import Path

from planner import load_pipelines
from streams.engine.sources import SourcePool
from streams.liveconfig.catalog import load_catalog, parse_checked
from streams.liveconfig.store import PipelineStore

CONFIGS = Path(__file__).resolve().parents[3] / "configs"
CONTEXT = {"keys": {"customer_id": "../admin?x=1#f"}, "customer": {"account_id": "A/1"}}


def test_the_catalog_binds_http_paths_to_one_segment_per_value() -> None:
    pipeline = load_catalog([CONFIGS / "customer360.yaml"], env={})["customer360"]
    assert pipeline.escapes_bound
    assert pipeline.nodes["customer"].render_request(CONTEXT) == {"path": "/customers/..%2Fadmin%3Fx%3D1%23f"}
    # Query parameters are httpx's to encode: the value goes in as it is.
    assert pipeline.nodes["orders"].render_request(CONTEXT) == {
        "path": "/orders",
        "params": {"account": "A/1"},
    }


def test_a_pushed_config_is_bound_too() -> None:
    text = (CONFIGS / "customer360.yaml").read_text()
    pipeline = parse_checked(text, file="pushed")
    assert pipeline.nodes["customer"].render_request(CONTEXT)["path"].startswith("/customers/..%2F")


def test_the_engine_binds_a_pipeline_the_planner_loaded_alone_once() -> None:
    raw = load_pipelines([CONFIGS / "customer360.yaml"], env={})["customer360"]
    sources = SourcePool()
    bound = sources.bind(raw)
    assert not raw.escapes_bound
    assert bound.escapes_bound
    assert bound.nodes["customer"].render_request(CONTEXT) == {"path": "/customers/..%2Fadmin%3Fx%3D1%23f"}
    assert sources.bind(raw) is bound
    assert sources.bind(bound) is bound


def test_a_worker_serves_a_pipeline_the_planner_loaded_alone_bound() -> None:
    raw = load_pipelines([CONFIGS / "customer360.yaml"], env={})["customer360"]
    store = PipelineStore({"customer360": raw})
    served = store.current("customer360")
    assert served is not None
    assert served.nodes["customer"].render_request(CONTEXT) == {"path": "/customers/..%2Fadmin%3Fx%3D1%23f"}
    assert store.known_version("customer360", raw.version) is served
