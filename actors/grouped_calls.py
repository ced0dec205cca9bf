"""Calls made at the same moment run as one group: the calls a shard's entities make to the
database while handling one batch of messages (activation reads, cancellations) go to
PostgreSQL as one statement instead of one each, which costs the database a fraction per row.

A group leaves as soon as fewer than `max_in_flight` groups are out (on the next turn of the
event loop, so calls made side by side join it); calls made while the groups are out wait and
leave together as the next one (Nagle's algorithm, as the routers batch messages to shards). A
lone call waits for nothing. When a group fails with one of the `fail_together` errors (the
database unavailable), every call of it fails; with any other, each call runs again alone, so
the one the database refuses fails on its own and the others succeed."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

Arg = TypeVar("Arg")
Result = TypeVar("Result")


@dataclass(slots=True)
class _Call(Generic[Arg]):
    arg: Arg
    done: asyncio.Future = field(repr=False)


class GroupedCalls(Generic[Arg, Result]):
    def __init__(self, run_group: Callable[[list[Arg]], Awaitable[list[Result]]], *, max_in_flight: int = 1,
                 max_group: int = 500, fail_together: tuple[type[BaseException], ...] = ()):
        """`run_group(args)` returns one result per argument, in order."""
        self.run_group = run_group
        self.max_in_flight = max_in_flight
        self.max_group = max_group
        self.fail_together = fail_together
        self.groups_run = 0
        self._waiting: list[_Call[Arg]] = []
        self._in_flight = 0
        self._scheduled = False

    async def __call__(self, arg: Arg) -> Result:
        call = _Call(arg, asyncio.get_running_loop().create_future())
        self._waiting.append(call)
        self._schedule()
        return await call.done

    def _schedule(self) -> None:
        if self._waiting and not self._scheduled and self._in_flight < self.max_in_flight:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._send_group)

    def _send_group(self) -> None:
        self._scheduled = False
        group, self._waiting = self._waiting[: self.max_group], self._waiting[self.max_group:]
        self._in_flight += 1
        asyncio.ensure_future(self._run(group))

    async def _run(self, group: list[_Call[Arg]]) -> None:
        try:
            await self._run_group(group)
        finally:
            self._in_flight -= 1
            self._schedule()

    async def _run_group(self, group: list[_Call[Arg]]) -> None:
        try:
            results = await self._run_counted([call.arg for call in group])
        except Exception as exc:
            if len(group) == 1 or isinstance(exc, self.fail_together):
                for call in group:
                    _settle(call, exception=exc)
                return
            for call in group:  # find the call that fails; the others succeed
                try:
                    [result] = await self._run_counted([call.arg])
                except Exception as its_exc:
                    _settle(call, exception=its_exc)
                else:
                    _settle(call, result)
            return
        for call, result in zip(group, results):
            _settle(call, result)

    async def _run_counted(self, args: list[Arg]) -> list[Result]:
        self.groups_run += 1
        return await self.run_group(args)


def _settle(call: _Call, result: object = None, exception: BaseException | None = None) -> None:
    if call.done.done():  # its caller was cancelled
        return
    if exception is not None:
        call.done.set_exception(exception)
    else:
        call.done.set_result(result)
