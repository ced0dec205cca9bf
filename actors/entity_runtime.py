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
import importlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import psutil
import ray
from opentelemetry.trace import SpanKind

from actors import metrics
from actors.gc_tuning import tune_for_many_long_lived_objects
from actors.shard_map import ShardMap, slot_of
from actors.tracing import MESSAGE_TRACE_KEY, current_carrier, span_in
from db import shard_maps
from db.errors import DATABASE_UNAVAILABLE, DATABASE_UNAVAILABLE_MESSAGE, DomainError
from db.pool import connect

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

    def export(self, entity: Entity) -> Any:
        """An active entity's live state, picklable, for another shard to go on with when the
        entity moves (kinds whose state is all durable need not offer it)."""

    def restore(self, entity_id: str, exported: Any) -> Entity:
        """The entity again, from what export gave (kinds that offer export)."""

    async def close(self) -> None: ...


@dataclass(slots=True)
class _Mailbox:
    entity: Entity | None = None
    lock: asyncio.Lock | None = None  # the mailbox, only while messages are queued: idle entities hold none
    pending: int = 0
    last_used: float = field(default_factory=time.monotonic)


class EntityHost:
    """Mailboxes, activation and passivation for the entities of one shard (no Ray here)."""

    def __init__(self, kind: EntityKind, idle_seconds: float):
        self.kind = kind
        self.idle_seconds = idle_seconds
        self._mailboxes: dict[str, _Mailbox] = {}
        self.activations = 0

    async def ask(self, entity_id: str, command: str, payload: dict[str, Any]) -> Any:
        """Run the message in the entity's mailbox; a message sent in a trace runs in a span of it."""
        carrier = payload.pop(MESSAGE_TRACE_KEY, None)
        with span_in(carrier, f"entity {command}", SpanKind.SERVER, **{"fleetray.entity_id": entity_id}):
            return await self._run(entity_id, command, payload)

    async def _run(self, entity_id: str, command: str, payload: dict[str, Any]) -> Any:
        box = self._mailboxes.get(entity_id)
        if box is None:
            box = self._mailboxes[entity_id] = _Mailbox()
        if box.lock is None:
            box.lock = asyncio.Lock()
        box.pending += 1
        try:
            async with box.lock:
                if box.entity is None:
                    box.entity = await self.kind.activate(entity_id)
                    self.activations += 1
                try:
                    return await box.entity.handle(command, payload)
                except BaseException:
                    # The live state may no longer match the database: reload on the next message.
                    box.entity = None
                    raise
        finally:
            box.pending -= 1
            box.last_used = time.monotonic()
            if box.pending == 0:
                box.lock = None  # released, and nobody waits for it

    def passivate_idle(self, now: float | None = None) -> int:
        """Drop entities with no queued message that were idle for idle_seconds."""
        now = time.monotonic() if now is None else now
        idle = [
            entity_id for entity_id, box in self._mailboxes.items()
            if box.pending == 0 and now - box.last_used >= self.idle_seconds
        ]
        for entity_id in idle:
            del self._mailboxes[entity_id]
        return len(idle)

    async def hand_over(self, leaving: Callable[[str], bool]) -> dict[str, Any]:
        """Remove the entities `leaving` picks, once the messages queued for them have run, and
        return what the kind exports of each to go on elsewhere (kinds that export nothing
        re-activate from durable state there). The caller sends them no new message meanwhile."""
        ids = [entity_id for entity_id in self._mailboxes if leaving(entity_id)]
        while any(self._mailboxes[entity_id].pending for entity_id in ids if entity_id in self._mailboxes):
            await asyncio.sleep(0.005)
        export = getattr(self.kind, "export", None)
        exported = {}
        for entity_id in ids:
            box = self._mailboxes.pop(entity_id, None)
            if box is not None and box.entity is not None and export is not None:
                exported[entity_id] = export(box.entity)
        return exported

    def take_over(self, exported: dict[str, Any]) -> None:
        """Host entities another shard handed over, with the state it exported."""
        for entity_id, state in exported.items():
            self._mailboxes[entity_id] = _Mailbox(entity=self.kind.restore(entity_id, state))

    @property
    def active_count(self) -> int:
        return sum(1 for box in self._mailboxes.values() if box.entity is not None)

    def active_summaries(self) -> dict[str, Any]:
        """The kind's summary of every active entity. Read outside the mailboxes and without
        touching their idle clocks: looking at an entity does not keep it activated."""
        return {entity_id: self.kind.summary(box.entity)
                for entity_id, box in self._mailboxes.items() if box.entity is not None}


def load_kind(kind_path: str) -> EntityKind:
    """Instantiate an entity kind from 'module:ClassName'."""
    module_name, _, class_name = kind_path.partition(":")
    return getattr(importlib.import_module(module_name), class_name)()


MOVED = "moved"  # a reply's status: the entity is not (or no longer) on this shard; the map says where


def moved_answer(shard_map: ShardMap) -> tuple[str, tuple[int, tuple[int, ...]]]:
    """A shard's MOVED answer as it crosses processes: the status and the map it holds."""
    return MOVED, (shard_map.epoch, shard_map.owners)


def moved_map(answer: Any) -> ShardMap | None:
    """The map of a MOVED answer (None for any other answer)."""
    if isinstance(answer, (tuple, list)) and len(answer) == 2 and answer[0] == MOVED:
        return ShardMap(*answer[1])
    return None


@ray.remote(max_restarts=-1, max_task_retries=3)
class ShardActor:
    """One Ray actor hosting the entities of the shard map's slots it owns (actors/shard_map.py).
    A message for an entity of another slot, or of a slot being handed off, is answered MOVED
    with this shard's map, and its router sends it again where that map says. Restarted by Ray
    if it dies: it then reads the stored map, and its entities re-activate from durable state."""

    def __init__(self, kind_name: str, kind_path: str, config: dict[str, Any], idle_seconds: float,
                 index: int, namespace: str, map_database_url: str):
        self._kind_name = kind_name
        self._namespace = namespace  # of the other shards, which hand-offs look up by name
        self._kind_path = kind_path
        self._config = config
        self._index = index
        self._map_database_url = map_database_url
        self._map: ShardMap | None = None
        self._leaving: set[int] = set()  # slots being handed off: their messages go elsewhere
        self._host = EntityHost(load_kind(kind_path), idle_seconds)
        self._opened: asyncio.Task | None = None
        self._passivator: asyncio.Task | None = None
        tune_for_many_long_lived_objects()

    async def _ready(self) -> None:
        if self._opened is None:
            self._opened = asyncio.ensure_future(self._open())
            self._passivator = asyncio.ensure_future(self._passivate_forever())
        await asyncio.shield(self._opened)

    async def _open(self) -> None:
        conn = await connect(self._map_database_url)
        try:
            stored = await shard_maps.load(conn, self._kind_name)
        finally:
            await conn.close()
        if stored is None:
            raise RuntimeError(f"no shard map stored for {self._kind_name} (the system controller writes it)")
        self._learn(ShardMap(*stored))
        await self._host.kind.open(self._config)

    def _learn(self, newer: ShardMap) -> bool:
        if newer.supersedes(self._map):
            self._map = newer
            return True
        return False

    def _here(self, entity_id: str) -> bool:
        slot = slot_of(entity_id)
        return self._map.owners[slot] == self._index and slot not in self._leaving

    async def _passivate_forever(self) -> None:
        """Passivate idle entities, and report how many are active (at least every 5 s)."""
        interval = max(0.05, min(self._host.idle_seconds / 2, 5.0))
        kind = {"kind": self._kind_name}
        while True:
            await asyncio.sleep(interval)
            self._host.passivate_idle()
            metrics.ENTITIES_ACTIVE.set(self._host.active_count, tags=kind)

    async def ask_batch(self, messages: list[tuple[str, str, dict[str, Any]]]) -> list[tuple[Any, Any]]:
        """Many messages in one Ray call (the per-call cost dominates otherwise). Each runs in its
        entity's mailbox as if sent alone; returns (ok, result or error text) per message, or
        (MOVED, this shard's map) for one whose entity is not here."""
        await self._ready()

        async def one(entity_id: str, command: str, payload: dict[str, Any]) -> tuple[Any, Any]:
            if not self._here(entity_id):
                return moved_answer(self._map)
            try:
                return True, await self._host.ask(entity_id, command, payload)
            except DATABASE_UNAVAILABLE as exc:  # restarting, say: the sender may retry (503)
                log.warning("%s %s: database unavailable: %r", entity_id, command, exc)
                return True, error("UNAVAILABLE", DATABASE_UNAVAILABLE_MESSAGE)
            except Exception as exc:
                return False, f"{type(exc).__name__}: {exc}"
        return await asyncio.gather(*(one(*message) for message in messages))

    async def deliver(self, command: str, payloads: dict[str, dict[str, Any]]) -> dict[str, Any]:
        """One command to many entities of this shard in one Ray call, for senders that only need
        to know what failed (the device bridge's telemetry): each runs in its entity's mailbox as
        if sent alone, and no reply travels back but entity id -> problem for the failures, or
        -> (MOVED, map) for the entities not here."""
        results = await self.ask_batch([(entity_id, command, payload) for entity_id, payload in payloads.items()])
        failed = {}
        for entity_id, (status, result) in zip(payloads, results):
            if status == MOVED:
                failed[entity_id] = (status, result)
            elif not status:
                failed[entity_id] = result
            elif isinstance(result, dict) and "error" in result:
                failed[entity_id] = f"{result['error']}: {result.get('message', '')}"
        return failed

    async def watch(self, entity_id: str, cursor: int, timeout: float) -> Any:
        """Long-poll an entity's live events (kinds with streams implement `watch`). Runs outside
        the entity's mailbox, so a waiting reader never holds up the entity's messages."""
        await self._ready()
        if not self._here(entity_id):
            return moved_answer(self._map)
        return await self._host.kind.watch(entity_id, cursor, timeout)

    async def hand_off(self, epoch: int, owners: tuple[int, ...]) -> int:
        """Move this shard's entities of the slots the newer map gives to other shards there:
        stop taking their messages, let the queued ones run, export the entities and have each
        new owner take them over; from then on their messages are answered MOVED with the newer
        map. An entity is live on one shard at a time. Returns how many entities moved."""
        await self._ready()
        newer = ShardMap(epoch, tuple(owners))
        going = {slot: owner for slot, owner in enumerate(newer.owners)
                 if self._map.owners[slot] == self._index and owner != self._index}
        self._leaving |= set(going)
        try:
            exported = await self._host.hand_over(lambda entity_id: slot_of(entity_id) in going)
            by_owner: dict[int, dict[str, Any]] = {}
            for entity_id, state in exported.items():
                by_owner.setdefault(going[slot_of(entity_id)], {})[entity_id] = state
            await asyncio.gather(*(
                ray.get_actor(shard_name(self._kind_name, owner), namespace=self._namespace).take_over.remote(
                    epoch, owners, entities)
                for owner, entities in by_owner.items()))
            self._learn(newer)
        finally:
            self._leaving -= set(going)
        return len(exported)

    async def take_over(self, epoch: int, owners: tuple[int, ...], exported: dict[str, Any]) -> None:
        """Host entities another shard handed off under the newer map."""
        await self._ready()
        self._learn(ShardMap(epoch, tuple(owners)))
        self._host.take_over(exported)

    async def learn_map(self, epoch: int, owners: tuple[int, ...]) -> None:
        """A newer map from the controller, after a hand-off step this shard took no part in (or
        one that failed half way: entities of slots this shard no longer owns are dropped, to
        re-activate from durable state where they belong now)."""
        await self._ready()
        if self._learn(ShardMap(epoch, tuple(owners))):
            await self._host.hand_over(lambda entity_id: self._map.owners[slot_of(entity_id)] != self._index)

    async def shard_map(self) -> tuple[int, tuple[int, ...]]:
        await self._ready()
        return self._map.epoch, self._map.owners

    async def active_summaries(self) -> dict[str, Any]:
        """entity id -> the kind's summary, for the active entities of this shard."""
        await self._ready()
        return self._host.active_summaries()

    async def stats(self) -> dict[str, Any]:
        await self._ready()
        return {"kind": self._kind_path, "active": self._host.active_count,
                "activations": self._host.activations, "rss_bytes": psutil.Process().memory_info().rss,
                "slots": len(self._map.slots_of(self._index)), "map_epoch": self._map.epoch}


SHARD_MARK = "-shard-"


def shard_name(kind_name: str, index: int) -> str:
    return f"{kind_name}{SHARD_MARK}{index}"


def ensure_shards(
    kind_name: str, kind_path: str, indices: range, config: dict[str, Any], idle_seconds: float,
    namespace: str, map_database_url: str,
) -> list[ray.actor.ActorHandle]:
    """Get or create the named, detached shard actors of one kind, SPREAD over the nodes (a map
    must be stored for the kind first: db/shard_maps.py)."""
    return [
        ShardActor.options(
            name=shard_name(kind_name, i), namespace=namespace, lifetime="detached",
            get_if_exists=True, max_concurrency=1000, scheduling_strategy="SPREAD",
        ).remote(kind_name, kind_path, config, idle_seconds, i, namespace, map_database_url)
        for i in indices
    ]


class EntityCallFailed(Exception):
    """The entity raised while handling a message (the shard reports it as text)."""


class ShardUnavailable(DomainError):
    """The entity's shard could not be reached (restarting, or on a node that was lost), or the
    entity was still moving between shards after MOVE_WAIT_SECONDS: worth trying again."""

    def __init__(self, problem: str):
        super().__init__("UNAVAILABLE", f"The entity's shard is unavailable for now, try again ({problem})")


# How long a router waits for an entity's slot to finish moving before the call fails.
MOVE_WAIT_SECONDS = 10.0
MOVE_RETRY_SECONDS = 0.02


@dataclass(frozen=True)
class Moved:
    """A shard's answer that the entity is not there, with the map that shard holds."""

    map: ShardMap


@dataclass(frozen=True)
class Unreachable:
    """The shard could not be reached, even after Ray's retries (removed, or its node lost)."""

    problem: str


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
        """The entity's reply, or Moved, or Unreachable."""
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
            results = [(None, f"{type(exc).__name__}: {exc}")] * len(batch)
        finally:
            self.in_flight -= 1
            if self.waiting:
                self._send_next()
        for (_, future), answer in zip(batch, results):
            if future.done():
                continue
            status, value = answer
            newer = moved_map(answer)
            if status is None:
                future.set_result(Unreachable(value))
            elif newer is not None:
                future.set_result(Moved(newer))
            elif status:
                future.set_result(value)
            else:
                future.set_exception(EntityCallFailed(value))


class ShardRouter:
    """Addresses entities by id: callers never see which shard hosts which entity, nor that it
    moved. It holds a copy of the shard map, learns newer ones from the shards' MOVED answers,
    and sends such a message again where the newer map says (after a short wait while the
    entity's slot is still being handed off)."""

    def __init__(self, shard: Callable[[int], Awaitable[ray.actor.ActorHandle]]):
        self._shard = shard  # index -> the shard actor, looked up by name (ValueError: none)
        self._map: ShardMap | None = None
        self._handles: dict[int, ray.actor.ActorHandle] = {}
        self._mailers: dict[int, _ShardMailer] = {}

    async def _handle(self, index: int) -> ray.actor.ActorHandle:
        handle = self._handles.get(index)
        if handle is None:
            try:
                handle = await self._shard(index)
            except ValueError as exc:  # gone for good, and not created again in time
                raise ShardUnavailable(f"shard {index} is not running: {exc}") from exc
            handle = self._handles.setdefault(index, handle)
        return handle

    async def _mailer(self, index: int) -> _ShardMailer:
        mailer = self._mailers.get(index)
        if mailer is None:
            handle = await self._handle(index)
            mailer = self._mailers.setdefault(index, _ShardMailer(handle))
        return mailer

    async def current_map(self) -> ShardMap:
        if self._map is None:
            self._learn(await self._map_of_shard_0())
        return self._map

    async def _map_of_shard_0(self) -> ShardMap:
        """The map shard 0 holds (it exists whatever the count); ShardUnavailable while it
        cannot answer (restarting, or its node lost), its handle forgotten."""
        try:
            return ShardMap(*await (await self._handle(0)).shard_map.remote())
        except ShardUnavailable:
            raise
        except Exception as exc:
            self._handles.pop(0, None)
            self._mailers.pop(0, None)
            raise ShardUnavailable(f"shard 0 did not answer: {type(exc).__name__}: {exc}") from exc

    def _learn(self, newer: ShardMap) -> bool:
        if newer.supersedes(self._map):
            self._map = newer
            return True
        return False

    async def _after_unreachable(self, index: int, problem: str) -> None:
        """Shard `index` could not be reached: forget its handle (a shard created again under
        its name is another actor) and ask shard 0 for its map. Returns when that map is newer,
        so that the message goes where it says; raises ShardUnavailable otherwise."""
        self._handles.pop(index, None)
        self._mailers.pop(index, None)
        if index != 0:
            try:
                if self._learn(await self._map_of_shard_0()):
                    return
            except ShardUnavailable:
                pass
        raise ShardUnavailable(problem)

    async def _after_moved(self, newer: ShardMap, waiting_since: float) -> None:
        """Take the newer map, or wait a little if it is not newer (the slot is moving now)."""
        if self._learn(newer):
            return
        if time.monotonic() - waiting_since > MOVE_WAIT_SECONDS:
            raise ShardUnavailable(f"still moving between shards after {MOVE_WAIT_SECONDS:.0f} s")
        await asyncio.sleep(MOVE_RETRY_SECONDS)

    async def ask(self, entity_id: str, command: str, payload: dict[str, Any]) -> Any:
        """Send one message to an entity and wait for its reply (raises EntityCallFailed, or ShardUnavailable)."""
        carrier = current_carrier()
        if carrier is not None:
            payload = {**payload, MESSAGE_TRACE_KEY: carrier}
        since = time.monotonic()
        while True:
            index = (await self.current_map()).shard_of(entity_id)
            reply = await (await self._mailer(index)).ask(entity_id, command, payload)
            if isinstance(reply, Moved):
                await self._after_moved(reply.map, since)
            elif isinstance(reply, Unreachable):
                await self._after_unreachable(index, reply.problem)
            else:
                return reply

    async def deliver(self, command: str, payloads: dict[str, dict[str, Any]]) -> dict[str, str]:
        """Send `command` to many entities at once, one Ray call per shard (see
        ShardActor.deliver); returns entity id -> problem for those that failed, including every
        entity of a shard that could not be reached."""
        failed: dict[str, str] = {}
        since = time.monotonic()
        while payloads:
            shard_map = await self.current_map()
            by_shard: dict[int, dict[str, dict[str, Any]]] = {}
            for entity_id, payload in payloads.items():
                by_shard.setdefault(shard_map.shard_of(entity_id), {})[entity_id] = payload

            async def to_shard(index: int, part: dict[str, dict[str, Any]]) -> dict[str, Any]:
                try:
                    return await (await self._handle(index)).deliver.remote(command, part)
                except ShardUnavailable as exc:
                    return dict.fromkeys(part, exc.message)
                except Exception as exc:  # the shard could not be reached even after Ray's retries
                    problem = f"{type(exc).__name__}: {exc}"
                    try:
                        await self._after_unreachable(index, problem)
                    except ShardUnavailable:
                        return dict.fromkeys(part, problem)
                    return dict.fromkeys(part, moved_answer(self._map))  # sent again where it says
            moved: dict[str, dict[str, Any]] = {}
            newest: ShardMap | None = None
            for problems in await asyncio.gather(*(to_shard(i, part) for i, part in by_shard.items())):
                for entity_id, problem in problems.items():
                    answer_map = moved_map(problem)
                    if answer_map is None:
                        failed[entity_id] = problem
                    else:
                        moved[entity_id] = payloads[entity_id]
                        newest = answer_map if newest is None or answer_map.epoch > newest.epoch else newest
            payloads = moved
            if newest is not None:
                try:
                    await self._after_moved(newest, since)
                except ShardUnavailable as exc:
                    failed.update(dict.fromkeys(moved, exc.message))
                    break
        return failed

    async def watch(self, entity_id: str, cursor: int, timeout: float) -> Any:
        """Long-poll the entity's live events after `cursor` (see ShardActor.watch)."""
        since = time.monotonic()
        while True:
            index = (await self.current_map()).shard_of(entity_id)
            try:
                reply = await (await self._handle(index)).watch.remote(entity_id, cursor, timeout)
            except Exception as exc:  # the shard could not be reached even after Ray's retries
                await self._after_unreachable(index, f"{type(exc).__name__}: {exc}")
                continue
            newer = moved_map(reply)
            if newer is None:
                return reply
            await self._after_moved(newer, since)

    async def active_summaries(self) -> dict[str, Any]:
        """entity id -> summary of every active entity on every shard (see EntityHost)."""
        found: dict[str, Any] = {}
        for summaries in await asyncio.gather(*(shard.active_summaries.remote() for shard in await self.shards())):
            found.update(summaries)
        return found

    async def shards(self) -> list[ray.actor.ActorHandle]:
        """The shards of the current map."""
        shard_map = await self.current_map()
        return [await self._handle(index) for index in sorted(set(shard_map.owners))]
