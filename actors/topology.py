"""The named Ray actors: entity shards, outbox relays (one set per outbox), booking consumers,
the fleet alert feed and the maintenance sweep.

Names are fixed so any process (launcher, Serve replica, CLI, test) can find them; all are
detached and restartable, created with get_if_exists so starting twice is harmless.
"""

from __future__ import annotations

import ray

from actors.booking import BOOKING_KIND
from actors.vehicle import VEHICLE_KIND
from actors.consumers import CONSUMER_EFFECTS, BookingEventConsumerActor
from actors.entity_runtime import ShardRouter, ensure_shards
from actors.fleet_alert_feed import FleetAlertFeedActor
from actors.maintenance_sweep import MaintenanceSweepActor
from actors.outbox_relay import OutboxRelayActor
from cluster.settings import RAY_NAMESPACE, StackSettings
from db.outbox import BOOKING_OUTBOX, VEHICLE_ALERT_OUTBOX, OutboxTable


def relay_name(table: OutboxTable, index: int) -> str:
    return f"{table.name.replace('_', '-')}-relay-{index}"


def relay_slots(settings: StackSettings) -> list[tuple[OutboxTable, int]]:
    """Which relays run: `outbox_relays` for bookings, one for the (much rarer) vehicle alerts."""
    return ([(BOOKING_OUTBOX, i) for i in range(settings.outbox_relays)]
            + [(VEHICLE_ALERT_OUTBOX, 0)])


def consumer_name(name: str) -> str:
    return f"consumer-{name}"


def entity_router(settings: StackSettings, kind: tuple[str, str], shard_count: int) -> ShardRouter:
    kind_name, kind_path = kind
    return ShardRouter(ensure_shards(
        kind_name, kind_path, shard_count,
        {"database_url": settings.database_url, "alert_rules": settings.alert_rules},
        settings.entity_idle_seconds, RAY_NAMESPACE))


def booking_router(settings: StackSettings) -> ShardRouter:
    return entity_router(settings, BOOKING_KIND, settings.booking_shards)


def vehicle_router(settings: StackSettings) -> ShardRouter:
    return entity_router(settings, VEHICLE_KIND, settings.vehicle_shards)


def ensure_relays(settings: StackSettings) -> list[ray.actor.ActorHandle]:
    return [
        OutboxRelayActor.options(
            name=relay_name(table, i), namespace=RAY_NAMESPACE, lifetime="detached", get_if_exists=True,
        ).remote(settings.database_url, settings.kafka_bootstrap_servers, table,
                 settings.relay_batch_size, settings.relay_poll_seconds)
        for table, i in relay_slots(settings)
    ]


def ensure_consumers(settings: StackSettings) -> list[ray.actor.ActorHandle]:
    return [
        BookingEventConsumerActor.options(
            name=consumer_name(name), namespace=RAY_NAMESPACE, lifetime="detached", get_if_exists=True,
        ).remote(name, settings.database_url, settings.kafka_bootstrap_servers)
        for name in CONSUMER_EFFECTS
    ]


FLEET_ALERT_FEED = "fleet-alert-feed"


def fleet_alert_feed(settings: StackSettings) -> ray.actor.ActorHandle:
    return FleetAlertFeedActor.options(
        name=FLEET_ALERT_FEED, namespace=RAY_NAMESPACE, lifetime="detached", get_if_exists=True,
    ).remote(settings.kafka_bootstrap_servers)


MAINTENANCE_SWEEP = "maintenance-sweep"


def maintenance_sweep(settings: StackSettings) -> ray.actor.ActorHandle:
    return MaintenanceSweepActor.options(
        name=MAINTENANCE_SWEEP, namespace=RAY_NAMESPACE, lifetime="detached", get_if_exists=True,
    ).remote(settings.model_dump(mode="json"), vehicle_router(settings).shards)


BRIDGE_PREFIX = "device-bridge-"


def find_bridges() -> list[ray.actor.ActorHandle]:
    """Every device bridge actor on the cluster: the demo fleet's and those `fleetray bridge`
    attached (detached actors the stack's supervisor resumes after Ray restarts them)."""
    found = []
    for actor in ray.util.list_named_actors(all_namespaces=True):
        if actor["namespace"] == RAY_NAMESPACE and actor["name"].startswith(BRIDGE_PREFIX):
            try:
                found.append(ray.get_actor(actor["name"], namespace=RAY_NAMESPACE))
            except ValueError:  # removed in the meantime
                pass
    return found


def find_relays(settings: StackSettings) -> list[ray.actor.ActorHandle]:
    """The relays that exist now (none when the stack's launcher did not start them)."""
    found = []
    for table, i in relay_slots(settings):
        try:
            found.append(ray.get_actor(relay_name(table, i), namespace=RAY_NAMESPACE))
        except ValueError:
            pass
    return found
