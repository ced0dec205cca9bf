"""Model predictions over HTTP: `POST /v1/models/{name}/predict` and `GET /v1/models`
(ml/model_client.py picks the version and calls its deployment)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from serve_apps.errors import ERROR_RESPONSES
from serve_apps.services import Services, services

router = APIRouter(prefix="/v1/models", tags=["models"], responses=ERROR_RESPONSES)

Number = Annotated[float, Field(allow_inf_nan=False)]


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    instances: list[dict[str, Number | None | list[Number | None]]] = Field(
        description="feature rows ({feature: number}) or windows ({channel: [numbers]}); null is a dropout")


@router.get("")
async def list_models(svc: Services = Depends(services)) -> list[dict[str, Any]]:
    """What serves each model now: stable version, canary version and its traffic share."""
    served = await svc.models.catalog.served()
    return [{"model": name,
             "stable_version": served[name].stable.version if name in served else None,
             "canary_version": served[name].canary.version if name in served and served[name].canary else None,
             "canary_traffic_pct": served[name].canary_traffic_pct if name in served else 0}
            for name in svc.models.deployments]


@router.post("/{name}/predict")
async def predict(name: str, body: PredictRequest, svc: Services = Depends(services)) -> dict[str, Any]:
    """A batch of instances -> one prediction per instance from the version serving `name`."""
    return await svc.models.predict(name, body.instances)
