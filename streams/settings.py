"""Settings of every graphfetch process: flags, then ``GRAPHFETCH_*`` environment variables, then defaults.

Secrets are ``SecretStr`` and masked whenever settings are printed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


_DEPLOYMENT_FIELDS = (
    "bootstrap",
    "configs",
    "requests_topic",
    "results_topic",
    "dlq_topic",
    "configs_topic",
    "stats_topic",
    "tasks_topic_prefix",
    "group_prefix",
    "partitions",
    "session_timeout_ms",
    "rebalance_timeout_ms",
    "heartbeat_interval_ms",
    "fetch_max_wait_ms",
    "linger_ms",
    "event_loop",
)


class Settings(BaseSettings):
    """Everything a worker, the CLI or the dev stack reads. Field ``x`` is ``GRAPHFETCH_X``."""

    model_config = SettingsConfigDict(env_prefix="GRAPHFETCH_", frozen=True, extra="ignore")

    bootstrap: str = Field("127.0.0.1:9092", description="Kafka bootstrap servers, comma separated.")
    configs: Path = Field(Path("configs"), description="Pipeline config file or folder.")

    requests_topic: str = "graphfetch.requests"
    results_topic: str = "graphfetch.results"
    dlq_topic: str = "graphfetch.dlq"
    configs_topic: str = Field("graphfetch.configs", description="Compacted topic of pipeline versions.")
    watch_configs: bool = Field(True, description="Workers reload the configs folder when it changes.")
    tasks_topic_prefix: str = "graphfetch.tasks."
    partitions: int = Field(8, ge=1, le=1024, description="Partitions of topics graphfetch creates.")
    replication_factor: int = Field(1, ge=1, le=16)
    group_prefix: str = Field("graphfetch", description="Consumer groups are <prefix>.<role>.")

    fetch_max_wait_ms: int = Field(
        100,
        ge=1,
        le=1000,
        description="Longest a fetch waits for data. Apache Kafka answers as soon as data arrives, so "
        "this only bounds idle polling; Tansu answers only after it: use 5 there (local deployments on "
        "Tansu do).",
    )
    linger_ms: int = Field(0, ge=0, le=1000, description="Producer batching delay.")
    session_timeout_ms: int = Field(
        6_000, ge=1000, description="A killed worker's partitions move after about 1.5x this (Tansu)."
    )
    rebalance_timeout_ms: int = Field(
        6_000,
        ge=1000,
        description="Longest a rebalance waits for every member to rejoin; a member slower than this "
        "(draining a revocation) is left out and rejoins in one more rebalance.",
    )
    heartbeat_interval_ms: int = Field(500, ge=100)
    max_message_bytes: int = Field(1_000_000, ge=1024, description="Larger requests go to the DLQ.")
    max_fields: int = Field(256, ge=1, description="Most fields one request may ask for.")
    max_keys: int = Field(32, ge=1, description="Most keys one request may carry.")
    max_in_flight_requests: int = Field(
        256, ge=1, description="Per worker; beyond it, intake pauses (paces the catch-up after a gap)."
    )
    max_in_flight_tasks: int = Field(512, ge=1, description="Concurrent fetches per connector worker.")
    commit_interval_ms: int = Field(200, ge=10, description="How often finished offsets are committed.")
    send_timeout_ms: int = Field(
        30_000, ge=100, le=600_000, description="Longest one send waits for the broker's acknowledgement."
    )
    send_attempts: int = Field(
        5,
        ge=1,
        le=100,
        description="Attempts of a send that fails with a retriable error (backoff 0.5 s doubling to 10 s); "
        "then the worker stops and a successor replays its unfinished work.",
    )
    stop_timeout_ms: int = Field(
        25_000,
        ge=1_000,
        le=600_000,
        description="Longest a worker's stop waits for its agents to finish or hand back their work; what "
        "still runs then is abandoned, and its unfinished work replayed by the next owner.",
    )
    processing_guarantee: Literal["at_least_once", "exactly_once"] = Field(
        "at_least_once",
        description="exactly_once: transactional sends and offsets, read_committed consumers (the broker "
        "must support transactions; Tansu does not).",
    )
    worker_id: str | None = Field(
        None,
        max_length=200,
        description="Stable id of this worker (e.g. a pod name); exactly_once: a restarted worker fences its "
        "previous life's open transaction at once. Default: random per process.",
    )
    static_membership: bool = Field(
        True,
        description="With GRAPHFETCH_WORKER_ID set, agents join their groups as static members: a restarted "
        "worker takes its partitions back without a rebalance; a stopped one's wait the session timeout.",
    )
    max_queued_tasks: int = Field(
        512, ge=0, description="Tasks a saturated connector worker holds, run critical path first."
    )

    stats_topic: str = Field("graphfetch.stats", description="Compacted topic of workers' execution history.")
    stats_interval_s: float = Field(5.0, gt=0, le=3600, description="How often a worker shares its history.")
    history_half_life_s: float = Field(
        300.0, gt=0, description="Observations lose half their weight in this."
    )
    history_min_samples: int = Field(20, ge=1, description="Observations before history drives decisions.")
    redis_url: SecretStr = Field(
        SecretStr("redis://127.0.0.1:6379/0"), description="Shared cache of nodes with cache.store: redis."
    )
    cache_max_bytes: int = Field(
        64 * 2**20, ge=1024, description="Per-worker memory cache bound (JSON bytes)."
    )

    security_protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None

    log_format: Literal["text", "json"] = Field("text", description="json: one object a line with trace ids.")
    event_loop: Literal["auto", "uvloop", "asyncio"] = Field(
        "auto", description="Workers run on uvloop when it is installed (auto)."
    )
    prometheus_port: int = Field(0, ge=0, le=65535, description="Serve /metrics on 127.0.0.1 (0: off).")
    metrics_host: str = Field("127.0.0.1", description="Interface of the Prometheus endpoint.")

    console_host: str = Field("127.0.0.1", description="Interface `graphfetch console` listens on.")
    console_port: int = Field(8780, ge=0, le=65535, description="Port of `graphfetch console` (0: any free).")
    console_token: SecretStr | None = Field(
        None,
        description="Token the console asks for before a rollback, a re-submit or a tried request; "
        "unset: the console is read-only.",
    )
    console_max_profiles: int = Field(
        5_000, ge=10, le=1_000_000, description="Most recent profiles the console keeps and searches."
    )
    console_max_dead_letters: int = Field(
        2_000, ge=10, le=1_000_000, description="Most recent dead letters the console keeps."
    )
    console_lookback_s: float = Field(
        3600.0, gt=0, description="The console reads profiles and dead letters written this long ago on."
    )
    jaeger_url: str = Field("http://127.0.0.1:16686", description="Jaeger UI that trace links point to.")

    demo_port: int = Field(8700, ge=1, le=65535)
    demo_host: str = "127.0.0.1"

    @model_validator(mode="after")
    def _sasl_complete(self) -> Settings:
        if self.security_protocol.startswith("SASL") and not (self.sasl_mechanism and self.sasl_username):
            raise ValueError(
                "security_protocol SASL_* needs GRAPHFETCH_SASL_MECHANISM and GRAPHFETCH_SASL_USERNAME"
            )
        if self.heartbeat_interval_ms * 3 > self.session_timeout_ms:
            raise ValueError("heartbeat_interval_ms must be at most a third of session_timeout_ms")
        return self

    def isolated(self, name: str, **changes: Any) -> Settings:
        """These settings with every topic and consumer group named after ``name``: a deployment of
        its own on a shared broker (tests, the bench, chaos runs)."""
        named = {
            "requests_topic": f"{name}.requests",
            "results_topic": f"{name}.results",
            "dlq_topic": f"{name}.dlq",
            "configs_topic": f"{name}.configs",
            "stats_topic": f"{name}.stats",
            "tasks_topic_prefix": f"{name}.tasks.",
            "group_prefix": name,
        }
        # Only what was set is passed on: what was left to its default stays unset (model_fields_set).
        return type(self)(**{**self.model_dump(exclude_unset=True), **named, **changes})

    def deployment_env(self) -> dict[str, str]:
        """The ``GRAPHFETCH_*`` variables that make a worker process join this deployment, and run with
        its client tuning (fetch wait, linger, event loop)."""
        return {f"GRAPHFETCH_{name.upper()}": str(getattr(self, name)) for name in _DEPLOYMENT_FIELDS}

    def trace_url(self, trace_id: str) -> str:
        """Where a trace is shown in Jaeger's UI."""
        return f"{self.jaeger_url.rstrip('/')}/trace/{trace_id}"

    def tasks_topic(self, connector: str) -> str:
        return f"{self.tasks_topic_prefix}{connector}"

    def kafka_client_options(self) -> dict[str, Any]:
        """Connection options shared by every aiokafka client."""
        return {"bootstrap_servers": self.bootstrap, **self.kafka_security_options()}

    def kafka_security_options(self) -> dict[str, Any]:
        """TLS and SASL options of every aiokafka client (no bootstrap servers)."""
        options: dict[str, Any] = {"security_protocol": self.security_protocol}
        if self.security_protocol.startswith("SASL"):
            options["sasl_mechanism"] = self.sasl_mechanism
            options["sasl_plain_username"] = self.sasl_username
            password = self.sasl_password.get_secret_value() if self.sasl_password else None
            options["sasl_plain_password"] = password
        if self.security_protocol in ("SSL", "SASL_SSL"):
            from aiokafka.helpers import create_ssl_context

            options["ssl_context"] = create_ssl_context(
                cafile=str(self.ssl_cafile) if self.ssl_cafile else None,
                certfile=str(self.ssl_certfile) if self.ssl_certfile else None,
                keyfile=str(self.ssl_keyfile) if self.ssl_keyfile else None,
            )
        return options
