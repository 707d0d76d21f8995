"""The public names of ``connectors`` are pinned: adding or removing one is a deliberate change."""

import connectors


def test_all_is_sorted_and_pinned() -> None:
    assert connectors.__all__ == [
        "FETCH_ERROR_KINDS",
        "GENERIC_SETTINGS",
        "AdaptiveLimit",
        "AttemptEvent",
        "BadResponse",
        "BreakerSettings",
        "BreakerState",
        "CircuitBreaker",
        "CircuitOpen",
        "Connector",
        "ConnectorNotReady",
        "ConnectorRegistry",
        "ConnectorState",
        "FetchError",
        "FetchErrorKind",
        "FetchOutcome",
        "FetchTimeout",
        "HedgeBudget",
        "HedgePlan",
        "InvalidRequest",
        "LimitSettings",
        "LoadShed",
        "NotFound",
        "RateLimited",
        "ResilientSource",
        "RetryPolicy",
        "SourceConfigError",
        "UnknownConnector",
        "UpstreamRejected",
        "UpstreamUnavailable",
        "default_registry",
    ]
    assert connectors.__all__ == sorted(connectors.__all__, key=lambda n: (not n.isupper(), n))


def test_every_exported_name_exists() -> None:
    for name in connectors.__all__:
        assert hasattr(connectors, name), name


def test_importing_connectors_does_not_import_planner_or_streams() -> None:
    import subprocess
    import sys

    code = "import sys, connectors, connectors.http, connectors.sql; print(sorted({m.split('.')[0] for m in sys.modules} & {'planner', 'streams'}))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
