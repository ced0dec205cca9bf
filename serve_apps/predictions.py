"""`GET /v1/vehicles/{id}/predictions`: every served model's output for one vehicle, from the
windows its entity actor reads out of its recent telemetry, and the maintenance alerts those
predictions raised or cleared on the vehicle (actors/predictions.py)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from actors.predictions import VehiclePredictor, VehicleRef
from serve_apps.auth import principal_of
from serve_apps.errors import ERROR_RESPONSES
from serve_apps.input_types import VehicleIdPath
from serve_apps.services import Services, services

router = APIRouter(prefix="/v1/vehicles", tags=["predictions"], responses=ERROR_RESPONSES)


@router.get("/{vehicle_id}/predictions")
async def vehicle_predictions(vehicle_id: VehicleIdPath, request: Request, svc: Services = Depends(services)) -> dict[str, Any]:
    """Another tenant's vehicle is a 404: the entity refuses its window and maintenance asks."""
    target = VehicleRef(vehicle_id, principal_of(request).tenant_id)
    predictor = VehiclePredictor(svc.vehicles, svc.models, svc.trip_summaries)
    [prediction] = await predictor.predict([target], list(svc.models.deployments))
    return {"vehicle_id": vehicle_id, "predictions": prediction.results, "alerts": prediction.alerts}
