"""``python -m devkit.demo`` flags become :class:`DemoSettings`."""

from __future__ import annotations

import pytest

from devkit.demo import FaultSettings
from devkit.demo.command_line import settings_from_args


def test_no_flags_give_the_default_settings() -> None:
    settings = settings_from_args([])
    assert (settings.host, settings.port, settings.customers, settings.seed) == ("127.0.0.1", 8700, 5_000, 0)
    assert settings.db_url == "sqlite+aiosqlite:///demo.db"
    assert settings.faults == {}


def test_fault_flags_set_the_default_knobs_and_json_sets_per_service_knobs() -> None:
    settings = settings_from_args(
        ["--latency-ms", "25", "--error-rate", "0.1", "--faults", '{"risk": {"down": true}}']
    )
    assert settings.faults_for("crm") == FaultSettings(latency_ms=25, error_rate=0.1)
    assert settings.faults_for("risk") == FaultSettings(latency_ms=25, error_rate=0.1, down=True)


@pytest.mark.parametrize("flags", [["--no-db"], ["--db-url", ""]])
def test_database_seeding_can_be_skipped(flags: list[str]) -> None:
    assert settings_from_args(flags).db_url is None


@pytest.mark.parametrize(
    "flags", [["--error-rate", "2"], ["--faults", '{"billing": {}}'], ["--faults", "[1]"], ["--port", "-1"]]
)
def test_invalid_flags_exit_with_usage(flags: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        settings_from_args(flags)
    assert exited.value.code == 2
    assert "usage:" in capsys.readouterr().err
