"""Base for Ray actors that run one loop for their whole life (relays, consumers)."""

from __future__ import annotations

import asyncio
from typing import Any, Coroutine


class BackgroundLoopActor:
    """start() is idempotent: the stack's supervisor calls it every few seconds, so a loop
    resumes after Ray restarts the actor's process (which re-runs only __init__)."""

    _task: asyncio.Task | None = None
    _stopped = False

    def loop(self) -> Coroutine[Any, Any, None]:
        raise NotImplementedError

    async def start(self) -> None:
        if self._task is None and not self._stopped:
            self._task = asyncio.ensure_future(self.loop())

    def stop_loop(self) -> None:
        """Cancel the loop for good (the actor is about to be removed): the supervisor's next
        start() must not resume it."""
        self._stopped = True
        if self._task is not None:
            self._task.cancel()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()
