"""Models over HTTP: predictions (`POST /v1/models/{name}/predict`; ml/model_client.py picks
the version and calls its deployment), what serves each model (`GET /v1/models`), its registered
versions, and, for administrators, promoting a version (whole or as a canary) and rolling back,
as `fleetray model` does."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from ml.registry import RegistryError, Serving, UnknownVersion
from serve_apps.audited import AuditEntry, audited
from serve_apps.auth import admin_of
from serve_apps.errors import ERROR_RESPONSES, ApiError
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


class ModelVersionResponse(BaseModel):
    version: int
    status: str  # registered, stable, canary or retired
    created_at: datetime
    metrics: dict[str, Any]  # the quality measured when it was trained (ml/train.py)


class PromoteRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = Field(ge=1)
    traffic_pct: int = Field(100, ge=1, le=100, description="100: the stable version; 1-99: a canary taking that share")


class ServingResponse(BaseModel):
    model: str
    stable_version: int
    canary_version: int | None
    canary_traffic_pct: int

    @classmethod
    def of(cls, serving: Serving) -> ServingResponse:
        return cls(model=serving.name, stable_version=serving.stable_version,
                   canary_version=serving.canary_version, canary_traffic_pct=serving.canary_traffic_pct)


@router.get("/{name}/versions", response_model=list[ModelVersionResponse])
async def list_versions(name: str, svc: Services = Depends(services)) -> list[ModelVersionResponse]:
    """Every registered version of `name`, oldest first."""
    svc.models.check_known(name)
    return [ModelVersionResponse(version=v.version, status=v.status, created_at=v.created_at, metrics=v.metrics)
            for v in await svc.models.catalog.registry.list(name)]


@router.post("/{name}/promote", response_model=ServingResponse)
async def promote(name: str, body: PromoteRequest, request: Request, svc: Services = Depends(services),
                  audit: AuditEntry = audited("promote_model", "model", "name", shared=True)) -> ServingResponse:
    """Administrators only: serve `version` to all traffic, or (traffic_pct 1-99) as a canary
    beside the stable version. Predictions follow within a second."""
    admin_of(request, "change the models every tenant is served")
    svc.models.check_known(name)
    audit.target_id = f"{name}/{body.version}"
    with _refusals():
        serving = await svc.models.catalog.promote(name, body.version, body.traffic_pct)
    return ServingResponse.of(serving)


@router.post("/{name}/rollback", response_model=ServingResponse)
async def rollback(name: str, request: Request, svc: Services = Depends(services),
                   _: AuditEntry = audited("rollback_model", "model", "name", shared=True)) -> ServingResponse:
    """Administrators only: drop the canary if there is one, else go back to the previous stable
    version."""
    admin_of(request, "change the models every tenant is served")
    svc.models.check_known(name)
    with _refusals():
        serving = await svc.models.catalog.rollback(name)
    return ServingResponse.of(serving)


@contextmanager
def _refusals() -> Iterator[None]:
    """The registry's refusals as the API's errors: an unknown version 404, any other 409."""
    try:
        yield
    except UnknownVersion as exc:
        raise ApiError("NOT_FOUND", str(exc)) from exc
    except RegistryError as exc:
        raise ApiError("CONFLICT", str(exc)) from exc
