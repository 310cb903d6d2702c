"""A background worker that does one round of work, then waits for a wake-up or its poll interval."""

from __future__ import annotations

import abc
import asyncio
import logging

log = logging.getLogger(__name__)


class PollingWorker(abc.ABC):
    """``run()`` calls ``round()`` forever: after ``wake()`` at once, else every ``poll_every`` s.

    A failed round is logged (by exception type only) and the next one goes on; work left
    undone stays in its table for the next round.
    """

    def __init__(self, poll_every: float = 1.0):
        self.poll_every = poll_every
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    @abc.abstractmethod
    async def round(self) -> int:
        """Do the work that is due; how many items were done."""

    async def run(self) -> None:
        while True:
            try:
                await self.round()
            except Exception as error:  # noqa: BLE001 — the loop must go on
                log.error("%s round failed: %s", type(self).__name__, type(error).__name__)
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), self.poll_every)
            except asyncio.TimeoutError:
                pass
