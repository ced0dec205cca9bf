"""What the HTTP routes need, opened once per Serve replica and handed to routes by FastAPI's
dependency injection (`Depends(services)`)."""

from __future__ import annotations

from dataclasses import dataclass
import asyncpg
from ray.serve.handle import DeploymentHandle
from starlette.requests import HTTPConnection

from actors.booking import BookingClient
from actors.topology import CREATION_WAIT_SECONDS, FLEET_ALERT_FEED, booking_router, find_actor, vehicle_router
from actors.vehicle import VehicleClient
from db.pool import create_pool
from ml.model_client import ModelCatalog, ModelClient
from ml.registry import ModelRegistry
from ml.trip_summaries import TripSummaryCache
from serve_apps.api_args import ApiArgs
from serve_apps.audit_writer import AuditWriter
from serve_apps.auth import TokenVerifier
from serve_apps.feature_flags import FeatureFlagCache
from serve_apps.live_feed import LiveFeed
from serve_apps.rate_limits import RateLimiter


@dataclass
class Services:
    webhook_secrets: dict[str, str]  # by tenant
    verifier: TokenVerifier
    rate_limiter: RateLimiter
    pool: asyncpg.Pool
    bookings: BookingClient
    vehicles: VehicleClient
    flags: FeatureFlagCache
    audit: AuditWriter
    vehicle_feed: LiveFeed  # live events of one vehicle, keyed by vehicle id
    alert_feed: LiveFeed    # the alerts of a tenant's fleet, keyed by tenant id
    models: ModelClient
    trip_summaries: TripSummaryCache  # earlier trips the vehicles' predictions summarised


async def open_services(args: ApiArgs, model_servers: dict[str, DeploymentHandle]) -> Services:
    pool = await create_pool(args.database_url, min_size=1, max_size=4)
    vehicles = VehicleClient(vehicle_router())
    alert_feed = await find_actor(FLEET_ALERT_FEED, CREATION_WAIT_SECONDS)
    return Services(webhook_secrets=args.webhook_secrets, verifier=TokenVerifier(args.auth),
                    rate_limiter=RateLimiter(args.rate_limits), pool=pool,
                    bookings=BookingClient(booking_router()), vehicles=vehicles,
                    flags=FeatureFlagCache(pool), audit=AuditWriter(pool),
                    vehicle_feed=LiveFeed(vehicles.watch),
                    alert_feed=LiveFeed(lambda tenant, cursor, timeout: alert_feed.watch.remote(
                        tenant, cursor, timeout)),
                    models=ModelClient(ModelCatalog(ModelRegistry(pool, args.model_registry_uri)), model_servers),
                    trip_summaries=TripSummaryCache())


async def services(connection: HTTPConnection) -> Services:
    """async on purpose: FastAPI runs a plain `def` dependency in a thread pool, per request.
    An HTTPConnection, so WebSocket routes get the services too."""
    return connection.app.state.services
