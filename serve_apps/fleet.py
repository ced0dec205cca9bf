"""Fleet-wide views of the caller's tenant, built from the vehicles' live state."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from serve_apps.auth import principal_of
from serve_apps.errors import ERROR_RESPONSES
from serve_apps.services import Services, services
from serve_apps.vehicles import tenant_vehicles

router = APIRouter(prefix="/v1/fleet", tags=["fleet"], responses=ERROR_RESPONSES)


class LeaderboardEntry(BaseModel):
    vehicle_id: str
    name: str
    driver_score: float
    harsh_events: dict[str, int]  # since activation: hard_acceleration, hard_braking, over_rev


@router.get("/leaderboard", response_model=list[LeaderboardEntry])
async def leaderboard(request: Request, svc: Services = Depends(services)) -> list[dict[str, Any]]:
    """The tenant's vehicles by driver score, best first; ties by vehicle id, so the order is stable."""
    views = await tenant_vehicles(svc, principal_of(request).tenant_id)
    return sorted(views, key=lambda view: (-view["driver_score"], view["vehicle_id"]))
