"""The ``graphfetch worker`` child processes of a deployment, by name.

A name may be started again after its process died (a restart after a crash,
as a pod would be): :attr:`WorkerProcesses.by_name` holds its latest life,
:attr:`WorkerProcesses.lives` every process started, in order. Each life logs
to ``<name>-<n>.log`` in the work folder (``n`` counts the starts), which is
also the workers' current directory.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Mapping, Sequence
from pathlib import Path

from devkit.deployment.child import LOG_TAIL_LINES, STOP_TIMEOUT_S, Child
from devkit.deployment.environment import graphfetch_command, inherited_env
from streams.settings import Settings


def worker_env(
    settings: Settings,
    *,
    upstreams: Mapping[str, str],
    tracing: bool = False,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """What a worker of ``settings``' deployment runs with: the inherited environment, the upstreams'
    variables, the deployment's ``GRAPHFETCH_*``, no tracing SDK unless asked, then ``extra``."""
    env = inherited_env()
    env.update(upstreams)
    env.update(settings.deployment_env())
    if not tracing:
        env["OTEL_SDK_DISABLED"] = "true"
    env.update(extra or {})
    return env


class WorkerProcesses:
    """Starts, kills and stops ``graphfetch worker --role ...`` children; each a log file in ``workdir``."""

    def __init__(
        self, *, workdir: Path, log_level: str = "INFO", stop_timeout_s: float = STOP_TIMEOUT_S
    ) -> None:
        self._workdir = workdir
        self._log_level = log_level
        self._stop_timeout_s = stop_timeout_s
        self.lives: list[Child] = []
        self.by_name: dict[str, Child] = {}

    def start(self, name: str, *, env: Mapping[str, str], roles: Sequence[str] | None = None) -> Child:
        """Start ``name`` (again, if it ran before) with ``roles`` (None: the worker's default, every role)."""
        argv = [*graphfetch_command(), "worker"]
        if roles is not None:
            argv += ["--role", ",".join(roles)]
        argv += ["--log-level", self._log_level]
        log_path = self._workdir / f"{name}-{len(self.lives) + 1}.log"
        child = Child.spawn(
            name, argv, env=env, cwd=self._workdir, log_path=log_path, stop_timeout_s=self._stop_timeout_s
        )
        self.lives.append(child)
        self.by_name[name] = child
        return child

    @property
    def pids(self) -> list[int]:
        """Every life's process id, gone or not (readings of a gone process count zero)."""
        return [child.pid for child in self.lives]

    def dead(self) -> list[str]:
        """The names whose latest life has exited."""
        return [name for name, child in self.by_name.items() if not child.alive]

    async def kill(self, names: Sequence[str] | None = None) -> None:
        """SIGKILL the named workers (None: every life) at once, then wait until they are gone."""
        children = self.lives if names is None else [self.by_name[name] for name in names]
        for child in children:
            child.signal(signal.SIGKILL)
        await asyncio.gather(*(child.wait() for child in children))

    async def stop(self) -> None:
        """Every life that still runs: SIGTERM (drain, last commit), SIGKILL past the stop timeout."""
        await asyncio.gather(*(child.stop() for child in self.lives))

    def logs(self, lines: int = LOG_TAIL_LINES) -> str:
        """The tail of every life's log, for error messages."""
        return "\n".join(child.log_tail(lines) for child in self.lives)
