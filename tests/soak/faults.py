"""The soak's faults, on a seeded schedule: each kind in turn (a fresh shuffle per round), spaced
evenly over the run. Each fault is what an operator would meet, done the way it happens: a
process killed (Ray or Serve brings it back), the broker restarted, PostgreSQL restarted."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import ray
from ray.util.state import list_actors

from actors.topology import CONSUMER_MARK, RELAY_MARK, actor, actor_names
from tests.helpers import restart_consumers

FAULTS = ("booking shard killed", "vehicle shard killed", "relay killed", "consumer killed",
          "API replica killed", "bridge killed", "broker restarted", "database restarted")
WARM_UP_SECONDS = 10.0
COOL_DOWN_SECONDS = 10.0  # load without faults at the end, before the load stops
MAX_SPACING_SECONDS = 30.0


def schedule(seed: int, seconds: float) -> list[tuple[float, str]]:
    """(seconds after the start, fault): every kind once per round, in a seeded order."""
    rng = random.Random(seed)
    spacing = min(MAX_SPACING_SECONDS, (seconds - WARM_UP_SECONDS - COOL_DOWN_SECONDS) / len(FAULTS))
    planned, at = [], WARM_UP_SECONDS
    while True:
        for fault in rng.sample(FAULTS, len(FAULTS)):
            if at >= seconds - COOL_DOWN_SECONDS:
                return planned
            planned.append((round(at, 1), fault))
            at += spacing


@dataclass
class Operations:
    """What the soak cannot do through Ray: the data services are the caller's."""
    restart_database: Callable[[], None]  # blocking; returns once PostgreSQL is back
    stop_broker: Callable[[], None]
    start_broker: Callable[[], Awaitable[None]]  # returns once its topics exist again


class Faults:
    def __init__(self, operations: Operations, bridge_prefix: str, seed: int):
        self.operations = operations
        self.bridge_prefix = bridge_prefix  # of the bridge actors the soak started
        self.rng = random.Random(seed)

    async def inject(self, fault: str) -> str:
        """Do `fault`; returns what was done, for the timeline."""
        if fault == "booking shard killed":
            return self._kill_one(lambda name: name.startswith("booking-shard-"))
        if fault == "vehicle shard killed":
            return self._kill_one(lambda name: name.startswith("vehicle-shard-"))
        if fault == "relay killed":
            return self._kill_one(lambda name: RELAY_MARK in name)
        if fault == "consumer killed":
            return self._kill_one(lambda name: CONSUMER_MARK in name)
        if fault == "bridge killed":
            return self._kill_one(lambda name: name.startswith(self.bridge_prefix))
        if fault == "API replica killed":
            return self._kill_api_replica()
        if fault == "broker restarted":
            return await self._restart_broker()
        if fault == "database restarted":
            await asyncio.to_thread(self.operations.restart_database)
            return "PostgreSQL restarted"
        raise ValueError(fault)

    def _kill_one(self, matches: Callable[[str], bool]) -> str:
        """Kill one of the named actors that match, as a crash: Ray restarts it."""
        name = self.rng.choice(sorted(actor_names(matches)))
        ray.kill(actor(name), no_restart=False)
        return f"killed {name}"

    def _kill_api_replica(self) -> str:
        """Kill an API replica for good: Serve's controller starts a new one."""
        replicas = sorted(a.name for a in list_actors(filters=[("state", "=", "ALIVE")], limit=10_000)
                          if a.class_name == "ServeReplica:api:FleetApi")
        name = self.rng.choice(replicas)
        ray.kill(ray.get_actor(name, namespace="serve"), no_restart=True)
        return f"killed {name}"

    async def _restart_broker(self) -> str:
        """Stop the broker and start it again. The embedded broker keeps nothing (a real Kafka
        keeps its logs and groups): as an operator does after losing a broker's data, the
        consumers are restarted while it is down (tests/helpers.py restart_consumers)."""
        self.operations.stop_broker()
        consumers = restart_consumers()
        await self.operations.start_broker()
        return f"broker restarted; {len(consumers)} consumers restarted while it was down"
