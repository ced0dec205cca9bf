"""Where fleetray's named Ray actors are found: entity shards, outbox relays, booking consumers,
the fleet alert feed, the maintenance sweep and the device bridges' name prefix.

The system controller (cluster/system_app.py) creates them, but for the bridges, which their own
commands start; every other process (Serve replica, bridge, CLI, test) looks them up here by
name, so none of them needs to know how they are configured.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import ray

from actors.booking import BOOKING_KIND
from actors.entity_runtime import ShardRouter, shard_name
from actors.vehicle import VEHICLE_KIND
from db.outbox import OutboxTable

RAY_NAMESPACE = "fleetray"
FLEET_ALERT_FEED = "fleet-alert-feed"
DELIVERY_AUDIT = "delivery-audit"
MAINTENANCE_SWEEP = "maintenance-sweep"
BRIDGE_PREFIX = "device-bridge-"
RELAY_MARK = "-relay-"
CONSUMER_MARK = "-consumer-"


def relay_name(table: OutboxTable, index: int) -> str:
    return f"{table.name.replace('_', '-')}{RELAY_MARK}{index}"


def consumer_name(group: str, member: int) -> str:
    """One member of a consumer group (actors/consumers.py CONSUMER_EFFECTS names the groups)."""
    return f"{group}{CONSUMER_MARK}{member}"


# How long a process starting beside the system controller waits for the actors it creates (a
# Serve config deployed at once starts the API and the controller together).
CREATION_WAIT_SECONDS = 120.0
# How long a router waits for a shard that is gone for good to be created again (the controller
# looks every 5 s) before the message is refused as unavailable.
SHARD_LOOKUP_SECONDS = 15.0


def actor(name: str) -> ray.actor.ActorHandle:
    """The named actor (raises ValueError when it does not exist)."""
    return ray.get_actor(name, namespace=RAY_NAMESPACE)


async def find_actor(name: str, wait_seconds: float) -> ray.actor.ActorHandle:
    """The named actor, waiting up to wait_seconds for it to be created (raises ValueError when
    it does not exist by then). The lookup asks Ray's control store and the wait sleeps, both off
    the event loop, which goes on serving meanwhile."""
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            return await asyncio.to_thread(actor, name)
        except ValueError:
            if time.monotonic() >= deadline:
                raise
            await asyncio.sleep(0.5)


def _router(kind_name: str) -> ShardRouter:
    return ShardRouter(lambda index: find_actor(shard_name(kind_name, index), SHARD_LOOKUP_SECONDS))


def booking_router() -> ShardRouter:
    return _router(BOOKING_KIND[0])


def vehicle_router() -> ShardRouter:
    return _router(VEHICLE_KIND[0])


def actor_names(matches: Callable[[str], bool]) -> list[str]:
    """The names of fleetray's named actors that exist now and that `matches` accepts."""
    return [entry["name"] for entry in ray.util.list_named_actors(all_namespaces=True)
            if entry["namespace"] == RAY_NAMESPACE and matches(entry["name"])]


def find_relays() -> list[ray.actor.ActorHandle]:
    """The outbox relays that exist now (none when no launcher started them)."""
    found = []
    for name in actor_names(lambda name: RELAY_MARK in name):
        try:
            found.append(actor(name))
        except ValueError:  # removed in the meantime
            pass
    return found
