"""The shard coordinator of one entity kind (Akka Cluster Sharding's coordinator, run by the system
controller): it creates the kind's shards, and scales them by moving slots of the shard map a
few at a time. Each step is stored first, then every shard that loses slots hands their
entities off to the new owners (ShardActor.hand_off), then every shard learns the step's map.

A step stored but not finished (the controller died) is safe: shards that start read the stored
map, and a shard that learns a map without the entities it was to receive activates them from
durable state on their next message; only their live state (rolling statistics) is lost.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import asyncpg
import ray

from actors.entity_runtime import SHARD_MARK, ensure_shards, shard_name
from actors.shard_map import ShardMap
from actors.topology import RAY_NAMESPACE, actor_names
from db import shard_maps

log = logging.getLogger(__name__)

SLOTS_PER_STEP = 32  # of 256: a step moves an eighth of the entities at most


class ShardCoordinator:
    def __init__(self, kind_name: str, kind_path: str, config: dict[str, Any], idle_seconds: float,
                 database_url: str, pool: asyncpg.Pool):
        self.kind_name = kind_name
        self.kind_path = kind_path
        self.config = config
        self.idle_seconds = idle_seconds
        self.database_url = database_url
        self.pool = pool
        self.map: ShardMap | None = None

    def _create(self, indices: range) -> list[ray.actor.ActorHandle]:
        return ensure_shards(self.kind_name, self.kind_path, indices, self.config, self.idle_seconds,
                             RAY_NAMESPACE, self.database_url)

    async def _tell_all(self, shard_map: ShardMap, shards: list[ray.actor.ActorHandle]) -> None:
        await asyncio.gather(*(shard.learn_map.remote(shard_map.epoch, shard_map.owners) for shard in shards))

    async def scale_to(self, count: int) -> None:
        """`count` shards, with the slots spread evenly over them."""
        stored = await shard_maps.load(self.pool, self.kind_name)
        current = ShardMap(*stored) if stored else ShardMap.initial(count)
        if stored is None:
            await shard_maps.store(self.pool, self.kind_name, current.epoch, current.owners)
        hosts = self._create(range(max(count, current.shard_count)))
        await self._tell_all(current, hosts)  # shards left behind by a controller that died mid-step
        for step in current.steps_to(current.balanced(count), SLOTS_PER_STEP):
            await shard_maps.store(self.pool, self.kind_name, step.epoch, step.owners)
            moved = await asyncio.gather(*(hosts[source].hand_off.remote(step.epoch, step.owners)
                                           for source in current.moves_to(step)))
            await self._tell_all(step, hosts)
            log.info("%s shards: map epoch %d moved %d entities", self.kind_name, step.epoch, sum(moved))
            current = step
        for index in range(count, len(hosts)):  # they own no slot any more
            ray.kill(hosts[index], no_restart=True)
        self.map = current

    def missing(self) -> list[str]:
        """The shards of the current map that do not exist (removed for good)."""
        existing = set(actor_names(lambda name: name.startswith(f"{self.kind_name}{SHARD_MARK}")))
        return [shard_name(self.kind_name, index) for index in range(self.map.shard_count)
                if shard_name(self.kind_name, index) not in existing]

    async def keep_up(self) -> list[str]:
        """Create again the shards that are gone for good; returns their names."""
        missing = self.missing()
        if missing:
            self._create(range(self.map.shard_count))
        return missing
