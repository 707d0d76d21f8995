"""librdkafka's command line (Debian's kcat) and Python binding (confluent-kafka) against graphfetch.

The kcat commands are the ones docs/clients.md shows, read from it, with this test's topic names
in place of the default ones: what the page documents is what runs.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
from typing import TYPE_CHECKING, Any

import pytest

from devkit.brokers.apache_kafka import kafka_available
from tests.support.budgets import UNHURRIED
from tests.support.librdkafka import produce_with_librdkafka
from tests.support.tools import REPO, require, require_executable

if TYPE_CHECKING:
    from tests.integration.clients.conftest import Runtime

pytestmark = pytest.mark.integration
jsonschema = pytest.importorskip("jsonschema")

CLIENTS_DOC = REPO / "docs" / "clients.md"
PROFILE_SCHEMA = REPO / "schemas" / "profile.customer360.schema.json"
KCAT_INSTALL = "install it with scripts/tools (apt-get install kcat, as root)"


def documented_command(name: str) -> str:
    """The shell block under ``<!-- test: name -->`` in docs/clients.md."""
    text = CLIENTS_DOC.read_text(encoding="utf-8")
    found = re.search(rf"<!-- test: {re.escape(name)} -->\n```bash\n(.*?)```", text, flags=re.DOTALL)
    assert found, f"docs/clients.md has no `<!-- test: {name} -->` block"
    return found.group(1)


def run_documented(name: str, runtime: Runtime) -> str:
    """Run a documented command on this test's deployment: its topics, its broker; its stdout."""
    command = (
        documented_command(name)
        .replace("graphfetch.requests", runtime.settings.requests_topic)
        .replace("profiles.enriched", runtime.output_topic)
    )
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", command],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "GRAPHFETCH_BOOTSTRAP": runtime.bootstrap},
        check=False,
    )
    assert result.returncode == 0, f"{name}: exit {result.returncode}\n{result.stderr}"
    return result.stdout


def profiles_by_id(kcat_output: str) -> dict[str, tuple[str, dict[str, Any]]]:
    """``key<TAB>value`` lines -> request id -> (key, profile)."""
    found = {}
    for line in kcat_output.splitlines():
        key, _, value = line.partition("\t")
        profile = json.loads(value)
        found[profile["request_id"]] = (key, profile)
    return found


def _session_broker_is_tansu() -> bool:
    """The order of tests/conftest.py: GRAPHFETCH_BOOTSTRAP, else the local Apache Kafka unless Tansu is asked."""
    if os.environ.get("GRAPHFETCH_BOOTSTRAP"):
        return False
    return os.environ.get("GRAPHFETCH_TEST_BROKER", "").lower() == "tansu" or not kafka_available()


async def test_kcat_and_confluent_kafka_requests_get_profiles_kcat_reads_back(runtime: Runtime) -> None:
    require_executable("kcat", install=KCAT_INSTALL)
    require(
        not _session_broker_is_tansu(),
        what="Apache Kafka (Debian's kcat cannot talk to the Tansu broker)",
        install="install its jars with scripts/kafka/fetch, or point GRAPHFETCH_BOOTSTRAP at a Kafka cluster",
    )
    runtime.write_pipeline(defaults=UNHURRIED)  # the documented requests name no deadline of their own
    await runtime.start(workers=1)

    await asyncio.to_thread(run_documented, "kcat-produce", runtime)
    request = {"request_id": "r-librdkafka-1", "pipeline": "customer360", "keys": {"customer_id": "C00007"}}
    await asyncio.to_thread(
        produce_with_librdkafka,
        runtime.bootstrap,
        runtime.settings.requests_topic,
        key=b"r-librdkafka-1",
        value=json.dumps(request).encode(),
    )

    # kcat -e reads to the end of the topic and exits: read again until both profiles are there.
    read: dict[str, tuple[str, dict[str, Any]]] = {}
    deadline = asyncio.get_running_loop().time() + 60
    while not {"r-kcat-1", "r-librdkafka-1"} <= read.keys():
        assert asyncio.get_running_loop().time() < deadline, f"kcat read only {sorted(read)} within 60 s"
        read.update(profiles_by_id(await asyncio.to_thread(run_documented, "kcat-consume", runtime)))

    validator = jsonschema.Draft202012Validator(json.loads(PROFILE_SCHEMA.read_text()))
    for request_id, customer in (("r-kcat-1", "C00042"), ("r-librdkafka-1", "C00007")):
        key, profile = read[request_id]
        assert key == customer, "the profile's key is the pipeline's output.key, keys.customer_id"
        assert profile["status"] == "complete", profile["errors"]
        assert [e.message for e in validator.iter_errors(profile)] == []
