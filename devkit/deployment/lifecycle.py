"""``async with`` for what a deployment starts: :meth:`start` on the way in, :meth:`stop` on the way out.

A start that fails half-way (a broker up, a worker not) is stopped before the
error propagates, so nothing it started is left running; ``stop`` must therefore
be safe on whatever ``start`` got done.
"""

from __future__ import annotations

from types import TracebackType
from typing import Self


class Lifecycle:
    """Base of the harness's pieces that start and stop; subclasses implement both."""

    async def start(self) -> None:
        raise NotImplementedError

    async def stop(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        try:
            await self.start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()
