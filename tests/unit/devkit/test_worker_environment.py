"""The environment a local deployment gives its worker processes: static membership only where the
broker honours it. No broker is started: an unstarted broker object says what it honours."""

from __future__ import annotations

import pytest

from devkit.brokers.apache_kafka import KafkaBroker
from devkit.brokers.process import ChildBroker
from devkit.brokers.tansu import TansuBroker
from devkit.deployment.local import LocalDeployment
from streams.settings import Settings


def _deployment(broker: ChildBroker | None) -> LocalDeployment:
    deployment = LocalDeployment(settings=Settings(bootstrap="127.0.0.1:9"))
    deployment.broker = broker
    return deployment


def test_workers_on_an_own_tansu_join_as_dynamic_members_unless_told_otherwise() -> None:
    deployment = _deployment(TansuBroker())

    assert deployment.worker_environment()["GRAPHFETCH_STATIC_MEMBERSHIP"] == "false"
    told = deployment.worker_environment({"GRAPHFETCH_STATIC_MEMBERSHIP": "true"})
    assert told["GRAPHFETCH_STATIC_MEMBERSHIP"] == "true"


@pytest.mark.parametrize("broker", [KafkaBroker(), None], ids=["own Apache Kafka", "a given broker"])
def test_workers_elsewhere_keep_the_default_static_membership(broker: ChildBroker | None) -> None:
    assert "GRAPHFETCH_STATIC_MEMBERSHIP" not in _deployment(broker).worker_environment()
