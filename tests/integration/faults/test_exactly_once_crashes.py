"""SIGKILL of an exactly-once worker, through ``graphfetch chaos`` itself: nothing lost, nothing duplicated.

Apache Kafka only (Tansu has no transactions); skipped where it is not
installed. ``kill-worker`` kills worker-1 of the two and restarts it under
the same ``GRAPHFETCH_WORKER_ID``, so the restart fences its killed life's open
transaction at once. Unlike at least once (test_worker_crashes.py), a request
in flight at the kill may not be answered twice: the profile ledger reads
``read_committed``, so an aborted answer is never seen. Two runs, a fresh
deployment each, at half the default rate (conftest.RATE: a slow host must not
turn a backlog into missing profiles); every run must hold, not one of them.
Timings are not asserted.
"""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from devkit.brokers.apache_kafka import kafka_available
from devkit.chaos.runner import ChaosReport
from streams.cli.main import app

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.skipif(
        not kafka_available(), reason="needs Apache Kafka: Java 17+ and the jars of scripts/kafka/fetch"
    ),
]

RATE = 15


@pytest.mark.timeout(900)  # two runs of a minute or so each; far longer on a loaded two-core machine
def test_sigkill_of_an_exactly_once_worker_loses_and_duplicates_nothing_in_every_run(tmp_path) -> None:
    json_path = tmp_path / "chaos.json"
    command = ["chaos", "--guarantee", "exactly_once", "--broker", "kafka", "-s", "kill-worker"]
    command += ["--repeat", "2", "--duration", "0.3", "--rate", str(RATE), "--no-progress"]
    command += ["--json", str(json_path), "--workdir", str(tmp_path / "runs")]

    result = CliRunner().invoke(app, command)

    assert result.exit_code == 0, result.output
    print(result.output)
    report = ChaosReport.model_validate_json(json_path.read_text())
    assert (report.guarantee, report.broker) == ("exactly_once", "kafka")
    assert [(row.scenario, row.run) for row in report.scenarios] == [("kill-worker", 1), ("kill-worker", 2)]
    for row in report.scenarios:
        assert row.sent > 0, row
        assert row.lost == 0, f"run {row.run}: {row.notes} (logs in {tmp_path / 'runs'})"
        assert row.duplicated == 0, f"run {row.run}: {row.notes} (logs in {tmp_path / 'runs'})"
    [summary] = report.summaries
    assert (summary.runs, summary.lost, summary.duplicated, summary.within_guarantee) == (2, 0, 0, 2)
    assert "kill-worker: 2 run(s)" in result.output
