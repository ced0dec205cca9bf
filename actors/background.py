"""Base for Ray actors that run one loop for their whole life (relays, consumers, the alert feed,
the maintenance sweep, device bridges)."""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any, Coroutine

log = logging.getLogger(__name__)


class BackgroundLoopActor:
    """Each subclass's __init__ ends with start_when_constructed(): Ray runs an async actor's
    __init__ on the actor's event loop and runs it again when it restarts the process, so the
    loop resumes by itself after a crash, with nothing outside the actor supervising it.
    start() is idempotent, so a caller that wants to be sure may call it too.

    A loop that ends by an error it did not handle ends the process: Ray then restarts the actor
    with a fresh loop, connections and state, rather than leaving it alive and doing nothing."""

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
            self._task.add_done_callback(self._exit_if_failed)

    def _exit_if_failed(self, task: asyncio.Task) -> None:
        if task.cancelled() or task.exception() is None:
            return
        log.critical("%s loop failed; exiting for Ray to restart the actor", type(self).__name__,
                     exc_info=task.exception())
        logging.shutdown()
        os._exit(1)

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
