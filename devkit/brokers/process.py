"""A broker as a child process: start on a free port, wait until it serves, freeze, stop.

:class:`ChildBroker` holds what the Tansu and the Apache Kafka brokers share:
the life cycle (``start`` once, ``stop`` twice is harmless, ``pause`` and
``resume`` with SIGSTOP and SIGCONT for fault tests), retries on a port taken
between picking and binding, output to a log file (never a pipe, which a
chatty broker would fill), and a kernel-enforced death with the parent on
Linux, so a SIGKILLed test run or ``graphfetch dev`` leaves no broker behind.
A subclass says how to run its broker and how to tell that it serves.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import io
import logging
import os
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from devkit.parent_death import die_with_parent
from planner.errors import GraphfetchError

__all__ = ["HOST", "BrokerError", "ChildBroker", "free_port"]

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
# Variables a broker would read that must not leak from the developer's shell:
# an OTLP endpoint makes Tansu export its own telemetry into the user's traces.
_SCRUBBED_ENV = ("OTEL_EXPORTER_OTLP_ENDPOINT",)
_PORT_ATTEMPTS = 3
_LOG_TAIL_BYTES = 3000


class BrokerError(GraphfetchError):
    """A local broker cannot be found, started or controlled; the message says what to do."""


class _State(enum.Enum):
    NEW = "new"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"


def free_port() -> int:
    """Ask the kernel for a free port; a race with another process is retried by ``start``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


class ChildBroker:
    """The life cycle of a broker process on ``127.0.0.1``; subclasses say what to run.

    Usage, sync or async::

        with TansuBroker() as broker:
            run(bootstrap=broker.bootstrap)

        async with KafkaBroker() as broker:
            await run(bootstrap=broker.bootstrap)
    """

    #: Shown in messages and logs ("Tansu", "Apache Kafka").
    name = "broker"
    #: The signal that stops the broker promptly and cleanly.
    stop_signal = signal.SIGTERM
    #: Whether a restarted static member (``group.instance.id``) gets its partitions back without
    #: a rebalance, as KIP-345 has it; where not, workers on it are better off as dynamic members.
    honours_static_membership = True
    #: The consumer fetch wait that suits it, where graphfetch's default does not (``None``: the
    #: default). A broker that answers a fetch only after its wait makes every hop wait that long.
    fetch_max_wait_ms: int | None = None

    def __init__(
        self,
        *,
        port: int | None,
        log_path: Path | None,
        start_timeout_s: float,
        stop_timeout_s: float,
    ) -> None:
        self._requested_port = port
        self._log_path = log_path
        self._start_timeout_s = start_timeout_s
        self._stop_timeout_s = stop_timeout_s
        self._state = _State.NEW
        self._process: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None
        self._port: int | None = None
        #: Seconds from ``start()`` to the first answer, once started.
        self.startup_s: float | None = None

    # -- what a subclass provides ---------------------------------------------------------------------

    def _argv(self, port: int) -> list[str]:
        """The command that runs the broker on ``port``, after :meth:`_prepare`."""
        raise NotImplementedError

    def _prepare(self, port: int) -> None:
        """Work before each spawn (Kafka formats its storage); nothing by default."""

    def _answers(self, port: int) -> bool:
        """Whether the broker on ``port`` serves clients."""
        raise NotImplementedError

    def _cleanup(self) -> None:
        """Work after the process is gone (Kafka removes its log dir); nothing by default."""

    # -- the life cycle -----------------------------------------------------------------------------

    @property
    def bootstrap(self) -> str:
        """``host:port`` for ``bootstrap_servers``; only available while the broker runs."""
        if self._port is None or self._state not in (_State.RUNNING, _State.PAUSED):
            raise BrokerError(f"The local {self.name} broker is not running. Call start() or use `with`.")
        return f"{HOST}:{self._port}"

    @property
    def pid(self) -> int:
        """Process id of the broker, for tests that signal it directly."""
        if self._process is None:
            raise BrokerError(f"The local {self.name} broker has not been started. Call start() first.")
        return self._process.pid

    @property
    def exit_code(self) -> int | None:
        """The broker process's exit code once it has ended (by itself, or stopped); None while it runs."""
        return self._process.poll() if self._process is not None else None

    def last_output(self) -> str:
        """The end of the broker's output (its log file), for an error message."""
        return self._log_tail()

    def start(self) -> None:
        """Start the broker and return once it serves clients."""
        if self._state is not _State.NEW:
            raise BrokerError(f"A local broker starts once; this one is {self._state.value}.")
        began = time.monotonic()
        attempts = 1 if self._requested_port is not None else _PORT_ATTEMPTS
        problem = ""
        tail = ""
        for attempt in range(1, attempts + 1):
            port = self._requested_port or free_port()
            try:
                self._prepare(port)
                self._spawn(self._argv(port))
            except BrokerError:
                self._state = _State.STOPPED
                self._cleanup()
                raise
            if self._wait_ready(port):
                self._port = port
                self._state = _State.RUNNING
                self.startup_s = time.monotonic() - began
                log.info("%s broker ready on %s:%d (pid %d)", self.name, HOST, port, self.pid)
                return
            exit_code = self._process.poll() if self._process is not None else None
            tail = self._log_tail()
            self._terminate()
            self._close_log()
            self._cleanup()
            if exit_code is None:
                problem = f"did not answer on {HOST}:{port} within {self._start_timeout_s:g} s"
                break
            # A free port can be taken by another process before the broker binds it.
            problem = f"exited with code {exit_code} while starting on {HOST}:{port}"
            log.warning("%s broker %s (attempt %d of %d)", self.name, problem, attempt, attempts)
        self._state = _State.STOPPED
        raise BrokerError(f"The local {self.name} broker {problem}. Its last output:\n{tail}")

    def stop(self) -> None:
        """Stop the broker (its stop signal, then SIGKILL) and remove its files; a second call does nothing."""
        if self._state in (_State.NEW, _State.STOPPED):
            self._state = _State.STOPPED
            return
        self._terminate()
        self._close_log()
        self._cleanup()
        self._state = _State.STOPPED
        log.info("%s broker on port %s stopped", self.name, self._port)

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
        # Start-up blocks for seconds; keep the event loop free meanwhile.
        await asyncio.to_thread(self.start)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.stop)

    # -- the process --------------------------------------------------------------------------------

    def _spawn(self, argv: list[str]) -> None:
        env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED_ENV}
        if self._log_path is not None:
            self._log_file = self._log_path.open("a+b")
        else:
            # Lives as long as the broker and is closed by stop(), so no `with`.
            self._log_file = tempfile.TemporaryFile(prefix="graphfetch-broker-")  # noqa: SIM115
        try:
            # The argv is a list (no shell) built by the subclass from resolved paths.
            self._process = subprocess.Popen(  # noqa: S603
                argv,
                stdin=subprocess.DEVNULL,
                stdout=self._log_file,
                stderr=subprocess.STDOUT,
                env=env,
                # Own session: a Ctrl-C in the terminal reaches graphfetch, which then
                # stops its workers before the broker, instead of killing all at once.
                start_new_session=True,
                preexec_fn=die_with_parent(),
            )
        except OSError as exc:
            self._close_log()
            raise BrokerError(f"Cannot run the local {self.name} broker ({argv[0]}): {exc}.") from exc

    def _wait_ready(self, port: int) -> bool:
        """Poll with backoff until the broker answers, the process exits or time is up."""
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

    def _terminate(self) -> None:
        process = self._process
        if process is None or process.poll() is not None:
            return
        if self._state is _State.PAUSED:
            process.send_signal(signal.SIGCONT)  # a stopped process handles no signal
        process.send_signal(self.stop_signal)
        try:
            process.wait(timeout=self._stop_timeout_s)
        except subprocess.TimeoutExpired:
            log.warning(
                "%s broker ignored its stop signal for %g s; killing it", self.name, self._stop_timeout_s
            )
            process.kill()
            process.wait()

    def _signal_running(self, signum: signal.Signals) -> None:
        process = self._process
        if self._state not in (_State.RUNNING, _State.PAUSED) or process is None:
            raise BrokerError(f"The local {self.name} broker is not running. Call start() first.")
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
            with contextlib.suppress(OSError):
                self._log_file.close()
            self._log_file = None
