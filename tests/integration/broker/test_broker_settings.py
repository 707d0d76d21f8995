"""A local deployment gives its clients and workers the fetch wait its broker needs: Tansu answers a
fetch only after the wait, so on it the wait is 5 ms, unless the settings chose one."""

from __future__ import annotations

import pytest

from devkit.deployment.local import NO_BROKER_YET, LocalDeployment
from streams.cli.shared_options import BrokerKind
from streams.settings import Settings

pytestmark = pytest.mark.integration


async def test_a_deployment_on_tansu_waits_5_ms_a_fetch() -> None:
    settings = Settings(bootstrap=NO_BROKER_YET).isolated("fetch-wait")
    assert settings.fetch_max_wait_ms == 100  # the default, for brokers that answer when data arrives

    async with LocalDeployment(settings=settings, broker=BrokerKind.TANSU) as deployment:
        assert deployment.settings.bootstrap != NO_BROKER_YET
        assert deployment.settings.fetch_max_wait_ms == 5
        assert deployment.worker_environment()["GRAPHFETCH_FETCH_MAX_WAIT_MS"] == "5"


async def test_a_fetch_wait_the_settings_chose_is_kept_on_tansu() -> None:
    settings = Settings(bootstrap=NO_BROKER_YET, fetch_max_wait_ms=40).isolated("fetch-wait-chosen")

    async with LocalDeployment(settings=settings, broker=BrokerKind.TANSU) as deployment:
        assert deployment.settings.fetch_max_wait_ms == 40
        assert deployment.worker_environment()["GRAPHFETCH_FETCH_MAX_WAIT_MS"] == "40"
