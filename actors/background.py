"""Base for Ray actors that run one loop for their whole life (relays, consumers, the alert feed,
the maintenance sweep, device bridges)."""

from __future__ import annotations

import asyncio
import os
from typing import Any, Coroutine


class BackgroundLoopActor:
    """Each subclass's __init__ ends with start_when_constructed(): Ray runs an async actor's
    __init__ on the actor's event loop and runs it again when it restarts the process, so the
    loop resumes by itself after a crash, with nothing outside the actor supervising it.
    start() is idempotent, so a caller that wants to be sure may call it too."""

    _task: asyncio.Task | None = None
    _stopped = False

    def loop(self) -> Coroutine[Any, Any, None]:
        raise NotImplementedError

    def start_when_constructed(self) -> None:
        """Start the loop once the constructor has returned (it runs on the actor's event loop)."""
        asyncio.ensure_future(self.start())

    async def start(self) -> None:
        if self._task is None and not self._stopped:
            self._task = asyncio.ensure_future(self.loop())

    async def stop(self) -> None:
        """End the loop for good (a later start() does not resume it) and wait for its own
        clean-up (a consumer leaves its group, a relay closes its producer): the actor is about
        to be removed."""
        self._stopped = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait([self._task])

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def loop_state(self) -> dict[str, Any]:
        """This actor's process and whether its loop runs."""
        return {"pid": os.getpid(), "running": self.running}
