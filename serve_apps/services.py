"""What the HTTP routes need, opened once per Serve replica and handed to routes by FastAPI's
dependency injection (`Depends(services)`)."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
from ray.serve.handle import DeploymentHandle
from starlette.requests import HTTPConnection

from actors.entity_runtime import ShardRouter
from ml.registry import ModelRegistry
from cluster.settings import StackSettings
from cluster.topology import booking_router, fleet_alert_feed, vehicle_router
from db.pool import create_pool
from serve_apps.audit_writer import AuditWriter
from serve_apps.auth import TokenVerifier
from serve_apps.feature_flags import FeatureFlagCache
from serve_apps.live_feed import LiveFeed
from serve_apps.model_client import ModelCatalog, ModelClient
from serve_apps.trip_summaries import TripSummaryCache


@dataclass
class Services:
    settings: StackSettings
    verifier: TokenVerifier
    pool: asyncpg.Pool
    bookings: ShardRouter
    vehicles: ShardRouter
    flags: FeatureFlagCache
    audit: AuditWriter
    vehicle_feed: LiveFeed  # live events of one vehicle, keyed by vehicle id
    alert_feed: LiveFeed    # the alerts of a tenant's fleet, keyed by tenant id
    models: ModelClient
    trip_summaries: TripSummaryCache  # earlier trips the vehicles' predictions summarised


async def open_services(settings: StackSettings, model_servers: dict[str, DeploymentHandle]) -> Services:
    pool = await create_pool(settings.database_url, min_size=1, max_size=4)
    vehicles = vehicle_router(settings)
    alert_feed = fleet_alert_feed(settings)
    return Services(settings=settings, verifier=TokenVerifier(settings.auth), pool=pool,
                    bookings=booking_router(settings), vehicles=vehicles,
                    flags=FeatureFlagCache(pool), audit=AuditWriter(pool),
                    vehicle_feed=LiveFeed(vehicles.watch),
                    alert_feed=LiveFeed(lambda tenant, cursor, timeout: alert_feed.watch.remote(
                        tenant, cursor, timeout)),
                    models=ModelClient(ModelCatalog(ModelRegistry(pool, settings.model_registry_uri)), model_servers),
                    trip_summaries=TripSummaryCache())


async def services(connection: HTTPConnection) -> Services:
    """async on purpose: FastAPI runs a plain `def` dependency in a thread pool, per request.
    An HTTPConnection, so WebSocket routes get the services too."""
    return connection.app.state.services
