"""Vehicle routes: register and list vehicles, live state from each vehicle's entity actor,
HTTP telemetry ingest, history and trouble codes. Every route is scoped to the caller's
tenant: another tenant's vehicle is a 404."""

import asyncio
from datetime import datetime, timezone
from typing import Any

from fastapi import APIRouter, Depends, Query, Request

from db import vehicles as repo
from db.readings import PID_PATTERN
from db.tenancy import tenant_scope
from serve_apps.audited import AuditEntry, audited
from serve_apps.auth import operator_of, principal_of
from serve_apps.errors import ERROR_RESPONSES, ApiError
from serve_apps.input_types import Instant, VehicleIdPath
from serve_apps.services import Services, services
from serve_apps.vehicle_schemas import (DtcEntry, PadChangeRequest, RegisterVehicleRequest, TelemetryBatch,
                                        TelemetryPoint)

router = APIRouter(prefix="/v1/vehicles", tags=["vehicles"], responses=ERROR_RESPONSES)

LIST_FIELDS = ("vehicle_id", "name", "connection", "last_seen", "health_score", "driver_score", "failure_risk",
               "alerts")


async def own_vehicle(conn, vehicle_id: str, tenant_id: str) -> dict[str, Any]:
    row = await repo.fetch_vehicle(conn, vehicle_id)
    if row is None or row["tenant_id"] != tenant_id:
        raise ApiError("NOT_FOUND", "Vehicle not found")
    return row


@router.post("", status_code=201)
async def register_vehicle(body: RegisterVehicleRequest, request: Request, svc: Services = Depends(services),
                           audit: AuditEntry = audited("register_vehicle", "vehicle")) -> dict[str, Any]:
    audit.target_id = body.vehicle_id
    who = operator_of(request, "register vehicles")
    return await svc.vehicles.register(body.vehicle_id, tenant_id=who.tenant_id, name=body.name, vin=body.vin,
                                       adapter=body.adapter)


@router.post("/{vehicle_id}/brake-pad-changes", status_code=201)
async def record_pad_change(vehicle_id: VehicleIdPath, body: PadChangeRequest, request: Request,
                            svc: Services = Depends(services),
                            _: AuditEntry = audited("record_brake_pad_change", "vehicle", "vehicle_id")) -> dict[str, Any]:
    """Operator only: the brake pads were changed (the brakes model needs the distance since)."""
    who = operator_of(request, "record brake pad changes")
    return await svc.vehicles.record_pad_change(vehicle_id, tenant_id=who.tenant_id,
                                                changed_at=body.changed_at or datetime.now(timezone.utc))


async def live_vehicle(svc: Services, vehicle_id: str, tenant_id: str) -> dict[str, Any]:
    """The vehicle's live state from its entity; DomainError NOT_FOUND for another tenant's vehicle."""
    return await svc.vehicles.get(vehicle_id, tenant_id=tenant_id)


async def ingest_readings(svc: Services, vehicle_id: str, tenant_id: str, batch: TelemetryBatch) -> dict[str, int]:
    """Deliver a validated batch to the vehicle; returns once it is in the live state and stored."""
    readings = [r.values() for r in batch.readings]
    return {"accepted": await svc.vehicles.ingest(vehicle_id, tenant_id=tenant_id, readings=readings)}


async def tenant_vehicles(svc: Services, tenant_id: str) -> list[dict[str, Any]]:
    """The live view (entity `get`) of each of the tenant's vehicles, in id order."""
    async with tenant_scope(svc.pool, tenant_id) as conn:
        rows = await repo.list_vehicles(conn, tenant_id)
    return list(await asyncio.gather(*(live_vehicle(svc, r["id"], tenant_id) for r in rows)))


@router.get("")
async def list_vehicles(request: Request, svc: Services = Depends(services)) -> list[dict[str, Any]]:
    """The tenant's vehicles with their live connection, health, driver score, engine failure
    risk (the latest prediction's, by the maintenance sweep or a caller) and open alerts."""
    views = await tenant_vehicles(svc, principal_of(request).tenant_id)
    return [{**{k: view[k] for k in LIST_FIELDS}, "open_alerts": len(view["alerts"])} for view in views]


@router.get("/{vehicle_id}")
async def get_vehicle(vehicle_id: VehicleIdPath, request: Request, svc: Services = Depends(services)) -> dict[str, Any]:
    return await live_vehicle(svc, vehicle_id, principal_of(request).tenant_id)


@router.post("/{vehicle_id}/telemetry", status_code=202)
async def ingest_telemetry(vehicle_id: VehicleIdPath, body: TelemetryBatch, request: Request,
                           svc: Services = Depends(services)) -> dict[str, Any]:
    """A gateway's batch of readings; 202 once they are in the live state and stored."""
    return await ingest_readings(svc, vehicle_id, principal_of(request).tenant_id, body)


@router.get("/{vehicle_id}/telemetry", response_model=list[TelemetryPoint])
async def telemetry_history(vehicle_id: VehicleIdPath, request: Request, pid: str | None = Query(None, pattern=PID_PATTERN),
                            since: Instant | None = Query(None, alias="from"),
                            until: Instant | None = Query(None, alias="to"),
                            limit: int = Query(1000, ge=1, le=10_000),
                            svc: Services = Depends(services)) -> list[dict[str, Any]]:
    tenant_id = principal_of(request).tenant_id
    async with tenant_scope(svc.pool, tenant_id) as conn:
        await own_vehicle(conn, vehicle_id, tenant_id)
        return await repo.telemetry_history(conn, vehicle_id, pid, since, until, limit)


@router.get("/{vehicle_id}/dtcs")
async def trouble_codes(vehicle_id: VehicleIdPath, request: Request, svc: Services = Depends(services)) -> dict[str, Any]:
    tenant_id = principal_of(request).tenant_id
    async with tenant_scope(svc.pool, tenant_id) as conn:
        await own_vehicle(conn, vehicle_id, tenant_id)
        history = [DtcEntry(**r) for r in await repo.dtc_history(conn, vehicle_id)]
    return {"active": [h for h in history if h.cleared_at is None], "history": history}
