"""`GET /v1/vehicles/{id}/predictions`: every served model's output for one vehicle, from the
window its entity actor reads out of its recent telemetry (ml/live.py), and the maintenance
alerts those predictions raise or clear on the vehicle."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Depends, Request

from ml import live
from serve_apps.auth import principal_of
from serve_apps.errors import ERROR_RESPONSES, ApiError, unwrap
from serve_apps.services import Services, services

router = APIRouter(prefix="/v1/vehicles", tags=["predictions"], responses=ERROR_RESPONSES)


async def predict_family(svc: Services, vehicle_id: str, tenant_id: str, family: str) -> dict[str, Any]:
    """{"version", "role", "outputs", "thresholds", "window"} or {"unavailable": reason}."""
    window = live.LIVE_WINDOWS.get(family)
    if window is None:
        return {"unavailable": live.NOT_LIVE.get(family, "no live inputs")}
    answers = await asyncio.gather(*(svc.vehicles.ask(vehicle_id, "window", {"tenant_id": tenant_id, **request})
                                     for request in window.requests()))
    latest, *earlier = [unwrap(answer, "window") for answer in answers]
    if latest is None:
        return {"unavailable": answers[0]["reason"]}
    try:
        instance = live.instance(family, latest["signals"], [grid and grid["signals"] for grid in earlier])
        result = await svc.models.predict(family, [instance])
    except live.NotEnoughData as exc:
        return {"unavailable": str(exc)}
    except ApiError as exc:
        if exc.code != "UNAVAILABLE":
            raise
        return {"unavailable": exc.message}
    return {"version": result["version"], "role": result["role"], "outputs": result["predictions"][0],
            "thresholds": result["thresholds"],
            "window": {"start": latest["start"], "step_seconds": latest["step_seconds"], "samples": window.samples},
            "earlier_windows": [{"lag_days": lag, "start": grid and grid["start"]}
                                for lag, grid in zip(window.lag_days[1:], earlier)]}


@router.get("/{vehicle_id}/predictions")
async def vehicle_predictions(vehicle_id: str, request: Request, svc: Services = Depends(services)) -> dict[str, Any]:
    """Another tenant's vehicle is a 404: the entity refuses its window and maintenance asks."""
    tenant_id = principal_of(request).tenant_id
    families = list(svc.models.deployments)
    results = dict(zip(families, await asyncio.gather(
        *(predict_family(svc, vehicle_id, tenant_id, family) for family in families))))
    predicted = {family: r for family, r in results.items() if "outputs" in r}
    reply = await svc.vehicles.ask(vehicle_id, "maintenance", {"tenant_id": tenant_id, "predictions": predicted})
    return {"vehicle_id": vehicle_id, "predictions": results, "alerts": unwrap(reply, "alerts")}
