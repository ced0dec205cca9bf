"""What the HTTP routes need, opened once per Serve replica and handed to routes by FastAPI's
dependency injection (`Depends(services)`)."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
from fastapi import Request

from actors.entity_runtime import ShardRouter
from cluster.settings import StackSettings
from cluster.topology import booking_router, vehicle_router
from db.pool import create_pool
from serve_apps.audit_writer import AuditWriter
from serve_apps.auth import TokenVerifier
from serve_apps.feature_flags import FeatureFlagCache


@dataclass
class Services:
    settings: StackSettings
    verifier: TokenVerifier
    pool: asyncpg.Pool
    bookings: ShardRouter
    vehicles: ShardRouter
    flags: FeatureFlagCache
    audit: AuditWriter


async def open_services(settings: StackSettings) -> Services:
    pool = await create_pool(settings.database_url, min_size=1, max_size=4)
    return Services(settings=settings, verifier=TokenVerifier(settings.auth), pool=pool,
                    bookings=booking_router(settings), vehicles=vehicle_router(settings),
                    flags=FeatureFlagCache(pool), audit=AuditWriter(pool))


async def services(request: Request) -> Services:
    """async on purpose: FastAPI runs a plain `def` dependency in a thread pool, per request."""
    return request.app.state.services
