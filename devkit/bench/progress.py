"""The progress bar of a bench run (rich, on stderr, gone when the run ends) and the time of its phases.

Each phase also records the CPU that processes *other* than the bench and its
children used meanwhile: on a shared machine, that says which figures were
taken under contention.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TaskProgressColumn, TextColumn, TimeElapsedColumn

from devkit.deployment.usage import machine_busy_seconds, own_cpu_seconds


@dataclass(frozen=True, slots=True)
class _Clock:
    wall: float
    machine: float
    own: float

    @classmethod
    def now(cls) -> _Clock:
        return cls(wall=time.monotonic(), machine=machine_busy_seconds(), own=own_cpu_seconds())


@dataclass(slots=True)
class PhaseTime:
    """How long a phase took, and how much CPU processes other than the bench's used meanwhile."""

    seconds: float = 0.0
    other_cpu_seconds: float = 0.0


class BenchProgress:
    """Counts measurement steps: ``expect`` adds planned steps, ``advance`` ticks one, ``phase`` names it."""

    def __init__(self, *, enabled: bool) -> None:
        self._progress = Progress(
            TextColumn("[bold]bench[/bold] {task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=True,
            disable=not enabled,
        )
        self._task: TaskID | None = None
        self.phases: dict[str, PhaseTime] = {}
        """Each phase, in the order run."""
        self._current: tuple[str, _Clock] | None = None

    def __enter__(self) -> BenchProgress:
        self._progress.start()
        self._task = self._progress.add_task("starting", total=0)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._close_phase()
        self._progress.stop()

    def _close_phase(self) -> None:
        if self._current is not None:
            name, started = self._current
            now = _Clock.now()
            phase = self.phases.setdefault(name, PhaseTime())
            phase.seconds += now.wall - started.wall
            phase.other_cpu_seconds += max(0.0, (now.machine - started.machine) - (now.own - started.own))
            self._current = None

    def expect(self, steps: int) -> None:
        if self._task is not None:
            total = self._progress.tasks[0].total or 0
            self._progress.update(self._task, total=total + steps)

    def phase(self, description: str) -> None:
        """Name what runs now; its time counts until the next phase."""
        self._close_phase()
        self._current = (description, _Clock.now())
        if self._task is not None:
            self._progress.update(self._task, description=description)

    def note(self, description: str) -> None:
        """Show ``description`` on the bar without starting a new phase."""
        if self._task is not None:
            self._progress.update(self._task, description=description)

    def advance(self, steps: int = 1) -> None:
        if self._task is not None:
            self._progress.advance(self._task, steps)
