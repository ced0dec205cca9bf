"""The audit record of a state-changing route, as a FastAPI dependency: a route declares its
action and target once (`audit: AuditEntry = audited("cancel_booking", "booking", "booking_id")`)
and every attempt is recorded whatever its outcome: a refusal by its error code, a request
that fails validation by the code it is answered with. The record is queued for the
background writer, so it never delays the response."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, AsyncIterator

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError

from db.audit import EVERY_TENANT, AuditRecord
from db.errors import DomainError
from serve_apps.auth import principal_of
from serve_apps.errors import validation_error
from serve_apps.services import Services, services


@dataclass
class AuditEntry:
    """What a route adds to its record: the target once it is known (a created entity's id)
    and, where "ok" says too little, the outcome (a repeat that changed nothing)."""
    target_id: str | None = None
    outcome: str | None = None


def audited(action: str, target_type: str, target_param: str | None = None, *, shared: bool = False) -> Any:
    """A dependency that records `action` on the target named by the path parameter
    `target_param` (or set by the route) once the route has answered. A `shared` target serves
    every tenant (a model): an administrator's record of it has the tenant `*`, as the
    command line's have; anyone else's refused attempt stays in their own tenant."""
    async def record_attempt(request: Request, svc: Services = Depends(services)) -> AsyncIterator[AuditEntry]:
        entry = AuditEntry(target_id=request.path_params.get(target_param) if target_param else None)
        outcome = "INTERNAL_ERROR"
        try:
            yield entry
            outcome = entry.outcome or "ok"
        except DomainError as exc:
            outcome = exc.code
            raise
        except RequestValidationError as exc:
            outcome = validation_error(exc).code
            raise
        finally:
            who = principal_of(request)
            svc.audit.record(AuditRecord(
                occurred_at=datetime.now(timezone.utc), action=action,
                tenant_id=EVERY_TENANT if shared and who.is_admin else who.tenant_id,
                user_id=who.user_id, ip_address=request.client.host if request.client else None,
                target_type=target_type, target_id=entry.target_id, outcome=outcome,
                request_id=request.state.request_id))
    return Depends(record_attempt)
