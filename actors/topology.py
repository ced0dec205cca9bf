"""Where fleetray's named Ray actors are found: entity shards, outbox relays, booking consumers,
the fleet alert feed, the maintenance sweep and the device bridges' name prefix.

Only the launcher (cluster/stack.py) creates them; every other process (Serve replica, bridge,
CLI, test) looks them up here by name, so none of them needs to know how they are configured.
"""

from __future__ import annotations

from collections.abc import Callable

import ray

from actors.booking import BOOKING_KIND
from actors.entity_runtime import ShardRouter, shard_name
from actors.vehicle import VEHICLE_KIND
from db.outbox import OutboxTable

RAY_NAMESPACE = "fleetray"
FLEET_ALERT_FEED = "fleet-alert-feed"
MAINTENANCE_SWEEP = "maintenance-sweep"
BRIDGE_PREFIX = "device-bridge-"
RELAY_MARK = "-relay-"


def relay_name(table: OutboxTable, index: int) -> str:
    return f"{table.name.replace('_', '-')}{RELAY_MARK}{index}"


def consumer_name(name: str) -> str:
    return f"consumer-{name}"


def actor(name: str) -> ray.actor.ActorHandle:
    """The named actor (raises ValueError when it does not exist)."""
    return ray.get_actor(name, namespace=RAY_NAMESPACE)


def shards(kind_name: str, count: int) -> list[ray.actor.ActorHandle]:
    return [actor(shard_name(kind_name, i)) for i in range(count)]


def booking_router(shard_count: int) -> ShardRouter:
    return ShardRouter(shards(BOOKING_KIND[0], shard_count))


def vehicle_router(shard_count: int) -> ShardRouter:
    return ShardRouter(shards(VEHICLE_KIND[0], shard_count))


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
