"""The local stack: PostgreSQL, broker, Ray, actors and Serve apps, started and stopped as one.

`fleetray run` (and `make run`) use it in the foreground; tests use it as a fixture.
External services are used when their URL is set (DATABASE_URL, KAFKA_BOOTSTRAP_SERVERS,
RAY_ADDRESS); otherwise embedded ones start in the state directory.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import ray
from ray import serve

from actors.booking import BOOKING_KIND
from actors.consumers import CONSUMER_EFFECTS, BookingEventConsumerActor
from actors.entity_runtime import ensure_shards, shard_name
from actors.fleet_alert_feed import FleetAlertFeedActor
from actors.maintenance_sweep import MaintenanceSweepActor
from actors.outbox_relay import OutboxRelayActor
from cluster.broker import EmbeddedBroker, ensure_topics, free_port
from cluster.processes import StartedProcesses
from cluster.settings import StackSettings
from actors.topology import (
    BRIDGE_PREFIX, FLEET_ALERT_FEED, MAINTENANCE_SWEEP, RAY_NAMESPACE, actor, consumer_name,
    relay_name, vehicle_router,
)
from actors.vehicle import VEHICLE_KIND, VehicleClient
from db import outbox
from db.embedded import ensure_database, start_embedded_postgres, stop_embedded_postgres
from db.migrate import apply_migrations
from db.outbox import BOOKING_EVENTS_TOPIC, VEHICLE_ALERTS_TOPIC, OutboxTable
from db.pool import create_pool
from ml.deployments import API_APP
from serve_apps.api_args import ApiArgs

log = logging.getLogger(__name__)

TOPICS = {BOOKING_EVENTS_TOPIC: 6, VEHICLE_ALERTS_TOPIC: 6}
DEMO_TENANT = "demo"
DEMO_BRIDGE = f"{BRIDGE_PREFIX}demo"
# Ray Serve's own fast path: direct ingress behind HAProxy, and RAY_SERVE_THROUGHPUT_OPTIMIZED
# (user code and the handle router on the replica's main event loop; its gRPC between deployments
# does not reach handles bound here, which the API's model calls choose themselves: model_client.py).
# The latter saves a thread hop per request, which matters most for model predictions through
# the API (`make bench-predict` measures it). That mode also holds
# replica log records back until 1,000 have gathered; writing each at once costs a file write
# (microseconds) and lets an operator see a request's log line while it matters.
# HAProxy's `timeout client` (an hour by default) is how long a client may stall, sending
# nothing and taking nothing, before its connection is closed; streams stay busier than 60 s,
# as SSE sends a ping every 15 s and uvicorn's WebSockets every 20 s.
SERVE_FAST_PATH_ENV = {"RAY_SERVE_ENABLE_DIRECT_INGRESS": "1", "RAY_SERVE_ENABLE_HA_PROXY": "1",
                       "RAY_SERVE_THROUGHPUT_OPTIMIZED": "1", "RAY_SERVE_REQUEST_PATH_LOG_BUFFER_SIZE": "1",
                       "RAY_SERVE_HAPROXY_TIMEOUT_CLIENT_S": "60"}
# HAProxy's own metrics and stats listeners default to the fixed ports 9101 and 8404, so a
# second stack on the machine (a benchmark beside `make run`) could not start its HAProxy: each
# stack that starts Ray picks free ones (nothing outside the stack talks to them).
HAPROXY_PORT_VARIABLES = ("RAY_SERVE_HAPROXY_METRICS_PORT", "RAY_SERVE_HAPROXY_STATS_PORT")


def relay_slots(settings: StackSettings) -> list[tuple[OutboxTable, int]]:
    """Which relays run: `outbox_relays` for bookings, one for the (much rarer) vehicle alerts."""
    return ([(outbox.BOOKING_OUTBOX, i) for i in range(settings.outbox_relays)]
            + [(outbox.VEHICLE_ALERT_OUTBOX, 0)])


def api_args(settings: StackSettings) -> ApiArgs:
    return ApiArgs(database_url=settings.database_url, model_registry_uri=settings.model_registry_uri,
                   auth=settings.auth, booking_shards=settings.booking_shards,
                   vehicle_shards=settings.vehicle_shards, webhook_secrets=settings.webhook_secrets)


def _detached(actor_class, name: str):
    """Options of a named, detached actor; get_if_exists makes starting twice harmless."""
    return actor_class.options(name=name, namespace=RAY_NAMESPACE, lifetime="detached", get_if_exists=True)


def create_shards(settings: StackSettings) -> dict[str, list[ray.actor.ActorHandle]]:
    """The entity shards, each kind given only what its entities need; the one place they are
    created (everyone else looks them up by name: actors/topology.py)."""
    created = {}
    for (kind_name, kind_path), count, config in (
            (BOOKING_KIND, settings.booking_shards, {"database_url": settings.database_url}),
            (VEHICLE_KIND, settings.vehicle_shards,
             {"database_url": settings.database_url, "alert_rules": settings.alert_rules})):
        created[kind_name] = ensure_shards(kind_name, kind_path, count, config, settings.entity_idle_seconds,
                                           RAY_NAMESPACE)
    return created


def create_loop_actors(settings: StackSettings,
                       vehicle_shards: list[ray.actor.ActorHandle]) -> list[ray.actor.ActorHandle]:
    """Relays, consumers, the fleet alert feed and (unless switched off) the maintenance sweep.
    Each starts its own loop, and again whenever Ray restarts it (actors/background.py)."""
    actors = [_detached(OutboxRelayActor, relay_name(table, i)).remote(
                  settings.database_url, settings.kafka_bootstrap_servers, table,
                  batch_size=settings.relay_batch_size, poll_seconds=settings.relay_poll_seconds)
              for table, i in relay_slots(settings)]
    actors += [_detached(BookingEventConsumerActor, consumer_name(name)).remote(
                   name, settings.database_url, settings.kafka_bootstrap_servers)
               for name in CONSUMER_EFFECTS]
    actors.append(_detached(FleetAlertFeedActor, FLEET_ALERT_FEED).remote(settings.kafka_bootstrap_servers))
    if settings.maintenance_sweep_seconds:
        actors.append(_detached(MaintenanceSweepActor, MAINTENANCE_SWEEP).remote(
            settings.database_url, settings.model_registry_uri, settings.maintenance_sweep_seconds,
            vehicle_shards))
    return actors


class LocalStack:
    def __init__(self, settings: StackSettings):
        self.settings = settings
        self.postgres = None
        self.broker: EmbeddedBroker | None = None
        self.pool = None
        self._ray_started_here = False
        self._started_ray_apps = False
        self.emulators: list = []
        self.trip_replay = None
        self.processes = StartedProcesses()

    @property
    def api_url(self) -> str:
        return f"http://{self.settings.http_host}:{self.settings.http_port}"

    async def start_data_services(self) -> None:
        """PostgreSQL (migrated) and the broker (with topics)."""
        s = self.settings
        s.state_dir.mkdir(parents=True, exist_ok=True)
        if s.database_url is None:
            self.postgres = start_embedded_postgres(s.state_dir)
            s = s.model_copy(update={"database_url": await ensure_database(self.postgres.get_uri())})
        applied = await apply_migrations(s.database_url)
        if applied:
            log.info("applied migrations %s", applied)
        if s.kafka_bootstrap_servers is None:
            self.broker = EmbeddedBroker(log_path=s.state_dir / "broker.log")
            s = s.model_copy(update={"kafka_bootstrap_servers": self.broker.start()})
        self.settings = s  # from here on with the services' addresses
        await ensure_topics(s.kafka_bootstrap_servers, TOPICS)
        self.pool = await create_pool(s.database_url, min_size=1, max_size=2)

    def start_ray(self) -> None:
        s = self.settings
        multiproc = s.state_dir / "prometheus"
        shutil.rmtree(multiproc, ignore_errors=True)
        multiproc.mkdir(parents=True)
        # Set before Ray starts so every worker process (actors, Serve replicas) inherits them.
        # FORWARDED_ALLOW_IPS is read by the uvicorn server of each HTTP replica or proxy.
        worker_env = {"PROMETHEUS_MULTIPROC_DIR": str(multiproc), "FORWARDED_ALLOW_IPS": s.trusted_proxies}
        os.environ.update(worker_env)
        if s.serve_ingress == "direct":
            os.environ.update(SERVE_FAST_PATH_ENV)
            os.environ.update({variable: str(free_port()) for variable in HAPROXY_PORT_VARIABLES})
        if not ray.is_initialized():
            ray.init(address=s.ray_address, namespace=RAY_NAMESPACE,
                     include_dashboard=True, dashboard_host="127.0.0.1", dashboard_port=s.dashboard_port,
                     runtime_env={"env_vars": worker_env},
                     log_to_driver=False)
            self._ray_started_here = True

    async def start_actors(self) -> None:
        self._started_ray_apps = True
        shards = create_shards(self.settings)
        # start() is a no-op for a loop already running: awaiting it waits until each is constructed.
        loop_actors = create_loop_actors(self.settings, shards[VEHICLE_KIND[0]])
        await asyncio.gather(*(loop_actor.start.remote() for loop_actor in loop_actors))

    async def ensure_models(self) -> None:
        """A promoted version of every model family, trained here first when none exists."""
        from ml.defaults import ensure_served_models
        from ml.registry import ModelRegistry

        s = self.settings
        promoted = await ensure_served_models(ModelRegistry(self.pool, s.model_registry_uri), s.state_dir / "models",
                                              progress=lambda line: print(line, flush=True))
        for family, version in promoted.items():
            log.info("serving %s v%d", family, version)

    def start_serve(self) -> None:
        from serve_apps.app import build_api_app, build_noop_app

        s = self.settings
        serve.start(http_options={"host": s.http_host, "port": s.http_port})
        serve.run(build_noop_app(), name="noop", route_prefix="/noop", blocking=False)
        serve.run(build_api_app(api_args(s)), name=API_APP, route_prefix="/", blocking=False)

    def start_metrics(self) -> None:
        from cluster.metrics_server import start_metrics_server

        start_metrics_server(self.settings.metrics_port, self.settings.state_dir / "prometheus",
                             self.pool, asyncio.get_running_loop())

    async def start_demo_fleet(self) -> None:
        """ELM327-emulator adapters (owned by this process) replaying simulated trips, their
        vehicles registered in tenant "demo", and a bridge actor reading them."""
        from device_bridge.bridge import DeviceBridgeActor
        from device_bridge.emulator import EmulatedAdapter
        from device_bridge.registration import ensure_vehicle
        from device_bridge.trip_replay import TripReplay

        s = self.settings
        links = s.state_dir / "adapters"
        links.mkdir(parents=True, exist_ok=True)
        vehicles = VehicleClient(vehicle_router(s.vehicle_shards))
        adapters = []
        for i in range(1, s.demo_fleet + 1):
            emulator = EmulatedAdapter(links / f"demo-{i}")
            await asyncio.get_running_loop().run_in_executor(None, emulator.start)
            self.emulators.append(emulator)
            vehicle_id = f"demo-{i}"
            if await ensure_vehicle(vehicles, vehicle_id, DEMO_TENANT, f"Demo car {i}",
                                    {"port": emulator.port, "emulated": True}):
                # new pads as it joins, so the brakes model has a distance to work from
                await vehicles.record_pad_change(vehicle_id, tenant_id=DEMO_TENANT,
                                                 changed_at=datetime.now(timezone.utc))
            adapters.append({"vehicle_id": vehicle_id, "port": emulator.port})
        self.trip_replay = await asyncio.get_running_loop().run_in_executor(None, TripReplay, self.emulators)
        self.trip_replay.start()
        _detached(DeviceBridgeActor, DEMO_BRIDGE).remote(s.vehicle_shards, DEMO_TENANT, adapters)

    async def start(self, *, with_metrics: bool = True) -> None:
        await self.start_data_services()
        self.start_ray()
        await self.start_actors()
        if self.settings.demo_fleet:
            await self.start_demo_fleet()
        if self.settings.train_missing_models:
            await self.ensure_models()
        self.start_serve()
        if with_metrics:
            self.start_metrics()
        self.write_stack_file()

    def urls(self) -> dict[str, Any]:
        s = self.settings
        return {
            "api_url": self.api_url,
            "database_url": s.database_url,
            "kafka_bootstrap_servers": s.kafka_bootstrap_servers,
            "ray_dashboard_url": f"http://127.0.0.1:{s.dashboard_port}",
            "metrics_url": f"http://127.0.0.1:{s.metrics_port}/metrics",
        }

    def write_stack_file(self) -> Path:
        path = self.settings.state_dir / "stack.json"
        path.write_text(json.dumps(self.urls(), indent=2))
        return path

    def _remove_from_cluster(self) -> None:
        """On a cluster we joined: delete our Serve apps and kill our named actors only."""
        for app in (API_APP, "noop"):
            serve.delete(app)
        s = self.settings
        names = ([shard_name(BOOKING_KIND[0], i) for i in range(s.booking_shards)]
                 + [shard_name(VEHICLE_KIND[0], i) for i in range(s.vehicle_shards)]
                 + [relay_name(table, i) for table, i in relay_slots(s)]
                 + [consumer_name(n) for n in CONSUMER_EFFECTS] + [FLEET_ALERT_FEED, MAINTENANCE_SWEEP, DEMO_BRIDGE])
        for name in names:
            try:
                ray.kill(actor(name))
            except ValueError:
                pass

    async def stop(self) -> None:
        try:
            await self._stop_services()
        finally:
            for process in self.processes.end_all():  # what outlived the stops (see processes.py)
                log.warning("ended leftover process %s", process)

    async def _stop_services(self) -> None:
        if self._started_ray_apps and ray.is_initialized():
            if self._ray_started_here:
                ray.shutdown()  # stops the local head and everything on it, Serve included
            else:
                self._remove_from_cluster()
        if self.trip_replay is not None:
            self.trip_replay.stop()
        for emulator in self.emulators:
            emulator.stop()
        if self.pool is not None:
            await self.pool.close()
        if self.broker is not None:
            self.broker.stop()
        if self.postgres is not None:
            stop_embedded_postgres(self.postgres)

