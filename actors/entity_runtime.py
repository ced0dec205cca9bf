"""Virtual entity actors hosted by shard Ray actors (the Orleans grain / Akka sharding model).

A Ray actor is an OS process (~89 MiB here), so one per vehicle or booking does not scale.
Instead a fixed number of shard actors each host many entities. Per entity:
  * activation on the first message (state loaded by the entity kind),
  * a mailbox: its messages run one at a time, in arrival order (asyncio.Lock is FIFO),
  * passivation after an idle period (state is already durable, so it is simply dropped).
Entities on one shard run concurrently with each other. Callers address entities by id
through ShardRouter and never see where an entity lives.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import psutil
import ray

from actors import metrics
from actors.gc_tuning import tune_for_many_long_lived_objects

log = logging.getLogger(__name__)


class Entity(Protocol):
    async def handle(self, command: str, payload: dict[str, Any]) -> Any: ...


def error(code: str, message: str) -> dict[str, str]:
    """A domain error reply (the HTTP layer maps codes to statuses)."""
    return {"error": code, "message": message}


class CommandEntity:
    """Dispatches a message `command` to the entity's `on_<command>(**payload)` method."""

    __slots__ = ()  # so that entities with many instances can do without a __dict__

    async def handle(self, command: str, payload: dict[str, Any]) -> Any:
        handler = getattr(self, f"on_{command}", None)
        if handler is None:
            raise ValueError(f"{type(self).__name__} has no command {command!r}")
        return await handler(**payload)


class TenantEntity(CommandEntity):
    """An entity owned by one tenant. Every command names the caller's tenant, and another
    tenant's entity answers NOT_FOUND, as one that does not exist would: checked here, once for
    every command but `open_commands` (those that create the entity check for themselves)."""

    __slots__ = ()
    open_commands: frozenset[str] = frozenset()
    not_found: str = "Not found"

    def owner(self) -> str | None:
        """The owning tenant; None while the entity does not exist."""
        raise NotImplementedError

    async def handle(self, command: str, payload: dict[str, Any]) -> Any:
        if command not in self.open_commands and self.owner() != payload["tenant_id"]:
            return error("NOT_FOUND", self.not_found)
        return await super().handle(command, payload)


class EntityKind(Protocol):
    """What a shard needs to host one kind of entity (bookings, vehicles, ...)."""

    async def open(self, config: dict[str, Any]) -> None:
        """Acquire shared resources (connection pools) once per shard process."""

    async def activate(self, entity_id: str) -> Entity:
        """Load one entity's state from durable storage."""

    def summary(self, entity: Entity) -> Any:
        """What `ShardActor.active_summaries` reports of an active entity (kinds that offer it)."""

    async def close(self) -> None: ...


@dataclass(slots=True)
class _Slot:
    entity: Entity | None = None
    lock: asyncio.Lock | None = None  # the mailbox, only while messages are queued: idle entities hold none
    pending: int = 0
    last_used: float = field(default_factory=time.monotonic)


class EntityHost:
    """Mailboxes, activation and passivation for the entities of one shard (no Ray here)."""

    def __init__(self, kind: EntityKind, idle_seconds: float):
        self.kind = kind
        self.idle_seconds = idle_seconds
        self._slots: dict[str, _Slot] = {}
        self.activations = 0

    async def ask(self, entity_id: str, command: str, payload: dict[str, Any]) -> Any:
        slot = self._slots.get(entity_id)
        if slot is None:
            slot = self._slots[entity_id] = _Slot()
        if slot.lock is None:
            slot.lock = asyncio.Lock()
        slot.pending += 1
        try:
            async with slot.lock:
                if slot.entity is None:
                    slot.entity = await self.kind.activate(entity_id)
                    self.activations += 1
                try:
                    return await slot.entity.handle(command, payload)
                except BaseException:
                    # The live state may no longer match the database: reload on the next message.
                    slot.entity = None
                    raise
        finally:
            slot.pending -= 1
            slot.last_used = time.monotonic()
            if slot.pending == 0:
                slot.lock = None  # released, and nobody waits for it

    def passivate_idle(self, now: float | None = None) -> int:
        """Drop entities with no queued message that were idle for idle_seconds."""
        now = time.monotonic() if now is None else now
        idle = [
            entity_id for entity_id, slot in self._slots.items()
            if slot.pending == 0 and now - slot.last_used >= self.idle_seconds
        ]
        for entity_id in idle:
            del self._slots[entity_id]
        return len(idle)

    @property
    def active_count(self) -> int:
        return sum(1 for s in self._slots.values() if s.entity is not None)

    def active_summaries(self) -> dict[str, Any]:
        """The kind's summary of every active entity. Read outside the mailboxes and without
        touching their idle clocks: looking at an entity does not keep it activated."""
        return {entity_id: self.kind.summary(slot.entity)
                for entity_id, slot in self._slots.items() if slot.entity is not None}


def load_kind(kind_path: str) -> EntityKind:
    """Instantiate an entity kind from 'module:ClassName'."""
    module_name, _, class_name = kind_path.partition(":")
    return getattr(importlib.import_module(module_name), class_name)()


@ray.remote(max_restarts=-1, max_task_retries=3)
class ShardActor:
    """One Ray actor hosting many entities of one kind. Restarted by Ray if it dies;
    its entities then re-activate from durable state on their next message."""

    def __init__(self, kind_name: str, kind_path: str, config: dict[str, Any], idle_seconds: float):
        self._kind_name = kind_name
        self._kind_path = kind_path
        self._config = config
        self._host = EntityHost(load_kind(kind_path), idle_seconds)
        self._opened: asyncio.Task | None = None
        self._passivator: asyncio.Task | None = None
        tune_for_many_long_lived_objects()

    async def _ready(self) -> None:
        if self._opened is None:
            self._opened = asyncio.ensure_future(self._host.kind.open(self._config))
            self._passivator = asyncio.ensure_future(self._passivate_forever())
        await asyncio.shield(self._opened)

    async def _passivate_forever(self) -> None:
        """Passivate idle entities, and report how many are active (at least every 5 s)."""
        interval = max(0.05, min(self._host.idle_seconds / 2, 5.0))
        active = metrics.ENTITIES_ACTIVE.labels(self._kind_name)
        while True:
            await asyncio.sleep(interval)
            self._host.passivate_idle()
            active.set(self._host.active_count)

    async def ask_batch(self, messages: list[tuple[str, str, dict[str, Any]]]) -> list[tuple[bool, Any]]:
        """Many messages in one Ray call (the per-call cost dominates otherwise). Each runs in its
        entity's mailbox as if sent alone; returns (ok, result or error text) per message."""
        await self._ready()
        results = await asyncio.gather(
            *(self._host.ask(entity_id, command, payload) for entity_id, command, payload in messages),
            return_exceptions=True)
        return [(False, f"{type(r).__name__}: {r}") if isinstance(r, BaseException) else (True, r)
                for r in results]

    async def deliver(self, command: str, payloads: dict[str, dict[str, Any]]) -> dict[str, str]:
        """One command to many entities of this shard in one Ray call, for senders that only need
        to know what failed (the device bridge's telemetry): each runs in its entity's mailbox as
        if sent alone, and no reply travels back but entity id -> problem for the failures."""
        results = await self.ask_batch([(entity_id, command, payload) for entity_id, payload in payloads.items()])
        failed = {}
        for entity_id, (ok, result) in zip(payloads, results):
            if not ok:
                failed[entity_id] = result
            elif isinstance(result, dict) and "error" in result:
                failed[entity_id] = f"{result['error']}: {result.get('message', '')}"
        return failed

    async def watch(self, entity_id: str, cursor: int, timeout: float) -> Any:
        """Long-poll an entity's live events (kinds with streams implement `watch`). Runs outside
        the entity's mailbox, so a waiting reader never holds up the entity's messages."""
        await self._ready()
        return await self._host.kind.watch(entity_id, cursor, timeout)

    async def active_summaries(self) -> dict[str, Any]:
        """entity id -> the kind's summary, for the active entities of this shard."""
        await self._ready()
        return self._host.active_summaries()

    async def stats(self) -> dict[str, Any]:
        await self._ready()
        return {"kind": self._kind_path, "active": self._host.active_count,
                "activations": self._host.activations, "rss_bytes": psutil.Process().memory_info().rss}


def shard_index(entity_id: str, shard_count: int) -> int:
    """Stable across processes and restarts (unlike hash(), which is salted per process)."""
    digest = hashlib.blake2b(entity_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % shard_count


SHARD_MARK = "-shard-"


def shard_name(kind_name: str, index: int) -> str:
    return f"{kind_name}{SHARD_MARK}{index}"


def ensure_shards(
    kind_name: str, kind_path: str, count: int, config: dict[str, Any], idle_seconds: float,
    namespace: str,
) -> list[ray.actor.ActorHandle]:
    """Get or create the named, detached shard actors of one kind (safe to call from anywhere)."""
    return [
        ShardActor.options(
            name=shard_name(kind_name, i), namespace=namespace, lifetime="detached",
            get_if_exists=True, max_concurrency=1000,
        ).remote(kind_name, kind_path, config, idle_seconds)
        for i in range(count)
    ]


class EntityCallFailed(Exception):
    """The entity raised while handling a message (the shard reports it as text)."""


class _ShardMailer:
    """Sends messages for one shard in batches: the first message goes at once; messages that
    arrive while a batch is in flight wait and leave together when it returns. Light load sees
    one call per message, heavy load few calls with many messages (like Nagle's algorithm)."""

    def __init__(self, shard: ray.actor.ActorHandle, max_in_flight: int = 2, max_batch: int = 4096):
        self.shard = shard
        self.max_in_flight = max_in_flight
        self.max_batch = max_batch
        self.in_flight = 0
        self.waiting: list[tuple[tuple[str, str, dict[str, Any]], asyncio.Future]] = []

    async def ask(self, entity_id: str, command: str, payload: dict[str, Any]) -> Any:
        future = asyncio.get_running_loop().create_future()
        self.waiting.append(((entity_id, command, payload), future))
        if self.in_flight < self.max_in_flight:
            self._send_next()
        return await future

    def _send_next(self) -> None:
        batch, self.waiting = self.waiting[: self.max_batch], self.waiting[self.max_batch:]
        self.in_flight += 1
        asyncio.ensure_future(self._send(batch))

    async def _send(self, batch) -> None:
        try:
            results = await self.shard.ask_batch.remote([message for message, _ in batch])
        except Exception as exc:  # the shard could not be reached even after Ray's retries
            results = [(False, f"{type(exc).__name__}: {exc}")] * len(batch)
        finally:
            self.in_flight -= 1
            if self.waiting:
                self._send_next()
        for (_, future), (ok, value) in zip(batch, results):
            if not future.done():
                future.set_result(value) if ok else future.set_exception(EntityCallFailed(value))


class ShardRouter:
    """Addresses entities by id: callers never see which shard hosts which entity."""

    def __init__(self, shards: list[ray.actor.ActorHandle]):
        self._shards = shards
        self._mailers = [_ShardMailer(shard) for shard in shards]

    async def ask(self, entity_id: str, command: str, payload: dict[str, Any]) -> Any:
        """Send one message to an entity and wait for its reply (raises EntityCallFailed)."""
        return await self._mailers[shard_index(entity_id, len(self._shards))].ask(entity_id, command, payload)

    async def deliver(self, command: str, payloads: dict[str, dict[str, Any]]) -> dict[str, str]:
        """Send `command` to many entities at once, one Ray call per shard (see
        ShardActor.deliver); returns entity id -> problem for those that failed, including every
        entity of a shard that could not be reached."""
        by_shard: dict[int, dict[str, dict[str, Any]]] = {}
        for entity_id, payload in payloads.items():
            by_shard.setdefault(shard_index(entity_id, len(self._shards)), {})[entity_id] = payload

        async def to_shard(index: int, part: dict[str, dict[str, Any]]) -> dict[str, str]:
            try:
                return await self._shards[index].deliver.remote(command, part)
            except Exception as exc:  # the shard could not be reached even after Ray's retries
                return dict.fromkeys(part, f"{type(exc).__name__}: {exc}")
        failed: dict[str, str] = {}
        for problems in await asyncio.gather(*(to_shard(i, part) for i, part in by_shard.items())):
            failed.update(problems)
        return failed

    async def watch(self, entity_id: str, cursor: int, timeout: float) -> Any:
        """Long-poll the entity's live events after `cursor` (see ShardActor.watch)."""
        shard = self._shards[shard_index(entity_id, len(self._shards))]
        return await shard.watch.remote(entity_id, cursor, timeout)

    async def active_summaries(self) -> dict[str, Any]:
        """entity id -> summary of every active entity on every shard (see EntityHost)."""
        found: dict[str, Any] = {}
        for summaries in await asyncio.gather(*(shard.active_summaries.remote() for shard in self._shards)):
            found.update(summaries)
        return found

    @property
    def shards(self) -> list[ray.actor.ActorHandle]:
        return list(self._shards)
