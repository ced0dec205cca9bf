"""`GET /v1/audit`: operators read their tenant's audit log (and the changes made to every
tenant), filtered by actor, action, target and time. Of a change made to every tenant by an
administrator of another, an operator sees what, when and who, not from which address."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel

from db.audit import EVERY_TENANT, AuditQuery, audit_records
from db.tenancy import tenant_scope
from serve_apps.auth import operator_of
from serve_apps.errors import ERROR_RESPONSES
from serve_apps.input_types import Instant, Text
from serve_apps.services import Services, services

router = APIRouter(prefix="/v1/audit", tags=["audit"], responses=ERROR_RESPONSES)

NAME = r"^[a-z_]{1,50}$"
MAX_ID = 2**63 - 1  # audit_log.id is a BIGINT


class AuditEntryResponse(BaseModel):
    id: int
    occurred_at: datetime
    action: str
    tenant_id: str  # "*" for a change made to every tenant (a feature flag, a model version)
    user_id: str
    ip_address: str | None
    target_type: str | None
    target_id: str | None
    outcome: str  # "ok", a finer word ("already_cancelled"), or the error code answered
    request_id: str | None


@router.get("", response_model=list[AuditEntryResponse])
async def read_audit_log(request: Request,
                         actor: Annotated[Text | None, Query(max_length=200, description="the user who acted")] = None,
                         action: str | None = Query(None, pattern=NAME, description="e.g. cancel_booking"),
                         target_type: str | None = Query(None, pattern=NAME, description="booking, vehicle, model, flag, bridge"),
                         target_id: Annotated[Text | None, Query(max_length=200)] = None,
                         since: Instant | None = Query(None, alias="from"),
                         until: Instant | None = Query(None, alias="to"),
                         before: int | None = Query(None, ge=1, le=MAX_ID, description="the id of the last record of the previous page"),
                         limit: int = Query(100, ge=1, le=1000),
                         svc: Services = Depends(services)) -> list[dict[str, Any]]:
    """The last written first; page back with `before` set to the smallest id received."""
    who = operator_of(request, "read the audit log")
    query = AuditQuery(actor=actor, action=action, target_type=target_type, target_id=target_id,
                       since=since, until=until, before_id=before, limit=limit)
    async with tenant_scope(svc.pool, who.tenant_id) as conn:
        records = await audit_records(conn, query)
    if not who.is_admin:
        for record in records:
            if record["tenant_id"] == EVERY_TENANT:
                record["ip_address"] = None
    return records
