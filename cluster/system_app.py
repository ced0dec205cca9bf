"""The system application: one Serve deployment that brings up, keeps up and scales every actor
fleetray runs beside its HTTP apps (entity shards, outbox relays, consumers, the fleet alert
feed, the delivery audit, the maintenance sweep), and keeps the outbox gauges current
(cluster/outbox_gauges.py).

Serve supervises it like any deployment (a lost replica is replaced, on another node if its
node is gone), so nothing outside the cluster has to keep running. Its arguments (SystemArgs)
say where the database and the broker are; its `user_config` (Scale) says how many shards of
each entity kind, relays and consumers run, and changing that (`fleetray scale`, or a
redeployed config) reconfigures the running replica: shards hand their entities off to each
other (cluster/shard_coordinator.py). Every actor is named and detached: a replaced controller
finds them again.
"""

# No `from __future__ import annotations` here: Serve reads build_system_app's annotation to turn
# a config's args into SystemArgs.
import asyncio
import logging
from collections.abc import Callable

import ray
from pydantic import BaseModel, Field
from ray import serve
from ray.serve import Application

from actors.booking import BOOKING_KIND
from actors.consumers import CONSUMER_EFFECTS, BookingEventConsumerActor
from actors.delivery_audit import DeliveryAuditActor
from actors.fleet_alert_feed import FleetAlertFeedActor
from actors.maintenance_sweep import MaintenanceSweepActor
from actors.outbox_relay import OutboxRelayActor
from actors.topology import (
    CONSUMER_MARK, DELIVERY_AUDIT, FLEET_ALERT_FEED, MAINTENANCE_SWEEP, RAY_NAMESPACE, RELAY_MARK, actor, actor_names,
    consumer_name, relay_name,
)
from actors.vehicle import VEHICLE_KIND
from cluster.broker import ensure_topics
from cluster.outbox_gauges import update_outbox_gauges
from cluster.shard_coordinator import ShardCoordinator
from db import outbox
from db.migrate import apply_migrations
from db.outbox import BOOKING_EVENTS_TOPIC, VEHICLE_ALERTS_TOPIC
from db.pool import create_pool
from ml.deployments import DEPLOYMENT_DEFAULTS

log = logging.getLogger(__name__)

SYSTEM_APP = "system"
CONTROLLER = "SystemController"
# Partitions per topic: the most members a consumer group can usefully have.
TOPIC_PARTITIONS = 6
TOPICS = {BOOKING_EVENTS_TOPIC: TOPIC_PARTITIONS, VEHICLE_ALERTS_TOPIC: TOPIC_PARTITIONS}
# How often the controller looks for actors that are gone for good (killed without restart,
# restarts exhausted) and creates them again.
KEEP_UP_SECONDS = 5.0
MAX_SHARDS = 64  # a quarter of the shard map's slots: each shard keeps at least four
STOP_SECONDS = 10.0  # for a loop actor being scaled away to finish (commit, leave its group)


class SystemArgs(BaseModel):
    """What the actors need to know of their world; fixed for a deployment's life."""

    database_url: str
    kafka_bootstrap_servers: str
    model_registry_uri: str
    entity_idle_seconds: float = Field(default=300.0, gt=0)
    alert_rules: dict[str, float] = Field(default_factory=dict)
    relay_batch_size: int = Field(default=100, ge=1)
    relay_poll_seconds: float = Field(default=1.0, gt=0)
    delivery_grace_seconds: float = Field(default=30.0, gt=0)
    # 0: no maintenance sweep.
    maintenance_sweep_seconds: float = Field(default=60.0, ge=0)
    # Where the booking shards, relays and consumers send their spans (OTLP/HTTP); None: no tracing.
    otlp_endpoint: str | None = None


class Scale(BaseModel):
    """The controller's user_config: what may change while the system runs."""

    booking_shards: int = Field(default=2, ge=1, le=MAX_SHARDS)
    vehicle_shards: int = Field(default=2, ge=1, le=MAX_SHARDS)
    outbox_relays: int = Field(default=1, ge=1)
    consumers_per_group: int = Field(default=1, ge=1, le=TOPIC_PARTITIONS)


async def prepare_data_services(database_url: str, bootstrap_servers: str) -> None:
    """The database migrated and the topics created (each a no-op when done already)."""
    applied = await apply_migrations(database_url)
    if applied:
        log.info("applied migrations %s", applied)
    await ensure_topics(bootstrap_servers, TOPICS)


def _detached(actor_class, name: str):
    """Options of a named, detached actor; get_if_exists makes creating it twice harmless.
    SPREAD places the system's actors over the nodes rather than packing the first one."""
    return actor_class.options(name=name, namespace=RAY_NAMESPACE, lifetime="detached", get_if_exists=True,
                               scheduling_strategy="SPREAD")


def shard_coordinators(args: SystemArgs, pool) -> dict[str, ShardCoordinator]:
    """One per entity kind, each kind's shards given only what its entities need."""
    return {kind_name: ShardCoordinator(kind_name, kind_path, config, args.entity_idle_seconds, args.database_url, pool)
            for (kind_name, kind_path), config in (
                (BOOKING_KIND, {"database_url": args.database_url, "otlp_endpoint": args.otlp_endpoint}),
                (VEHICLE_KIND, {"database_url": args.database_url, "alert_rules": args.alert_rules}))}


def loop_actors(args: SystemArgs, scale: Scale) -> dict[str, Callable[[], ray.actor.ActorHandle]]:
    """name -> how to create it, for every loop actor `scale` asks for: `outbox_relays` booking
    relays and one for the (much rarer) vehicle alerts, `consumers_per_group` members of each
    consumer group, the delivery audit, the fleet alert feed and (unless switched off) the
    maintenance sweep. Each
    starts its own loop, and again whenever Ray restarts it (actors/background.py)."""
    relays = [(outbox.BOOKING_OUTBOX, i) for i in range(scale.outbox_relays)] + [(outbox.VEHICLE_ALERT_OUTBOX, 0)]
    wanted = {
        relay_name(table, i): lambda table=table, i=i: _detached(OutboxRelayActor, relay_name(table, i)).remote(
            args.database_url, args.kafka_bootstrap_servers, table,
            batch_size=args.relay_batch_size, poll_seconds=args.relay_poll_seconds, otlp_endpoint=args.otlp_endpoint)
        for table, i in relays}
    wanted.update({
        consumer_name(group, i): lambda group=group, i=i: _detached(
            BookingEventConsumerActor, consumer_name(group, i)).remote(
            group, args.database_url, args.kafka_bootstrap_servers, args.otlp_endpoint)
        for group in CONSUMER_EFFECTS for i in range(scale.consumers_per_group)})
    wanted[DELIVERY_AUDIT] = lambda: _detached(DeliveryAuditActor, DELIVERY_AUDIT).remote(
        args.database_url, args.kafka_bootstrap_servers, args.delivery_grace_seconds)
    wanted[FLEET_ALERT_FEED] = lambda: _detached(FleetAlertFeedActor, FLEET_ALERT_FEED).remote(
        args.kafka_bootstrap_servers, args.database_url)
    if args.maintenance_sweep_seconds:
        wanted[MAINTENANCE_SWEEP] = lambda: _detached(MaintenanceSweepActor, MAINTENANCE_SWEEP).remote(
            args.database_url, args.model_registry_uri, args.maintenance_sweep_seconds)
    return wanted


def _scaled(name: str) -> bool:
    """The actors whose number Scale sets (and which a smaller Scale removes)."""
    return RELAY_MARK in name or CONSUMER_MARK in name


async def stop_and_remove(name: str) -> None:
    """Let a loop actor finish (a consumer commits and leaves its group, a relay closes its
    producer), then remove it for good."""
    try:
        handle = actor(name)
    except ValueError:
        return  # gone already
    try:
        await asyncio.wait_for(handle.stop.remote(), STOP_SECONDS)
    except Exception:  # not answering: the kill below ends it all the same
        log.warning("%s did not stop in time; killing it", name, exc_info=True)
    ray.kill(handle, no_restart=True)


@serve.deployment(num_replicas=1, **DEPLOYMENT_DEFAULTS)
class SystemController:
    async def __init__(self, args: SystemArgs):
        self.args = args
        self.scale: Scale | None = None
        self._lock = asyncio.Lock()  # one reconciliation at a time
        await prepare_data_services(args.database_url, args.kafka_bootstrap_servers)
        self.pool = await create_pool(args.database_url, min_size=1, max_size=2)
        self.coordinators = shard_coordinators(args, self.pool)
        self._keeper = asyncio.ensure_future(self._keep_up_forever())

    async def reconfigure(self, user_config: dict) -> None:
        """Serve calls this before the first request and whenever user_config changes."""
        scale = Scale.model_validate(user_config)
        async with self._lock:
            self.scale = scale
            await self.coordinators[BOOKING_KIND[0]].scale_to(scale.booking_shards)
            await self.coordinators[VEHICLE_KIND[0]].scale_to(scale.vehicle_shards)
            await self._reconcile(remove_surplus=True)

    async def _reconcile(self, *, remove_surplus: bool) -> list[str]:
        """Create the wanted actors that do not exist; with remove_surplus, stop the relays and
        consumers the scale no longer wants. Returns the names created."""
        wanted = loop_actors(self.args, self.scale)
        existing = set(actor_names(lambda name: True))
        created = [name for name in wanted if name not in existing]
        handles = [wanted[name]() for name in created]
        for coordinator in self.coordinators.values():
            created += await coordinator.keep_up()
        # start() is a no-op for a loop already running: awaiting it waits until each is constructed.
        await asyncio.gather(*(handle.start.remote() for handle in handles))
        if remove_surplus:
            await asyncio.gather(*(stop_and_remove(name) for name in existing
                                   if _scaled(name) and name not in wanted))
        if created:
            log.info("created %s", ", ".join(created))
        return created

    async def _keep_up_forever(self) -> None:
        """Re-create what is gone for good (actors, and topics a broker lost or made with too few
        partitions: broker.ensure_topics says why that loses records) and refresh the outbox
        gauges, every few seconds."""
        while True:
            await asyncio.sleep(KEEP_UP_SECONDS)
            try:
                await update_outbox_gauges(self.pool)
            except Exception:  # the database is down: the gauges keep their last values
                log.warning("reading the outboxes' gauges failed", exc_info=True)
            try:
                await ensure_topics(self.args.kafka_bootstrap_servers, TOPICS, timeout=KEEP_UP_SECONDS)
            except Exception:  # the broker is down: the relays and consumers wait for it too
                log.warning("checking the topics failed", exc_info=True)
            if self.scale is None:
                continue
            try:
                async with self._lock:
                    await self._reconcile(remove_surplus=False)
            except Exception:
                log.warning("keeping the system's actors up failed; trying again", exc_info=True)

    async def status(self) -> dict:
        """The running system (cluster/status.py), for `fleetray status`."""
        from cluster.status import system_status

        return await system_status(self.pool, self.args.kafka_bootstrap_servers, self.args.model_registry_uri)

    async def check_health(self) -> None:
        if self._keeper.done():
            raise RuntimeError("the keep-up loop ended")


def build_system_app(args: SystemArgs) -> Application:
    return SystemController.bind(args)
