"""GET /healthz: 200 only when the database, the broker (through a relay) and the actors answer."""

import asyncio

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from actors.topology import find_relays
from serve_apps.services import Services, services

HEALTH_TIMEOUT_SECONDS = 3.0

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz(svc: Services = Depends(services)) -> JSONResponse:
    async def database() -> bool:
        return await svc.pool.fetchval("SELECT 1") == 1

    async def broker() -> bool:
        relays = find_relays()
        return bool(relays) and await relays[0].broker_reachable.remote()

    async def actors() -> bool:
        shards = await svc.bookings.router.shards() + await svc.vehicles.router.shards()
        await asyncio.gather(*(s.stats.remote() for s in shards))
        return True

    checks = {}
    for name, check in (("database", database), ("broker", broker), ("actors", actors)):
        try:
            checks[name] = await asyncio.wait_for(check(), HEALTH_TIMEOUT_SECONDS)
        except Exception:
            checks[name] = False
    ok = all(checks.values())
    return JSONResponse({"status": "ok" if ok else "unavailable", "checks": checks}, 200 if ok else 503)
