"""Booking routes: create, read, complete and cancel (ADR-023).

Each request is routed to the booking's entity actor; the route only validates, checks the
feature flag, maps the entity's reply to HTTP, and records metrics; each change is audited
(serve_apps/audited.py).
"""

import logging
import secrets
import time
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request

from db import bookings as repo
from db.errors import DomainError
from db.flags import BOOKING_CANCELLATION_FLAG
from serve_apps import metrics
from serve_apps.audited import AuditEntry, audited
from serve_apps.auth import Principal, operator_of, principal_of
from serve_apps.errors import ERROR_RESPONSES, ApiError
from serve_apps.schemas import (
    BookingResponse, CancelBookingRequest, CancellationResponse, CreateBookingRequest,
)
from serve_apps.services import Services, services

log = logging.getLogger("fleetray.bookings")

CONFIRMATION_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
# Booking ids derived from a caller's Idempotency-Key live in this UUID namespace.
IDEMPOTENT_BOOKINGS = uuid.UUID("6f1c1f5e-2d0b-4f39-9a44-3b8c2e0d7a11")
IdempotencyKey = Annotated[str | None, Header(
    min_length=1, max_length=200,
    description="Send the same key again to get the booking the first request created instead of a second one.")]

router = APIRouter(prefix="/v1/bookings", tags=["bookings"], responses=ERROR_RESPONSES)


def new_confirmation_code() -> str:
    return "".join(secrets.choice(CONFIRMATION_ALPHABET) for _ in range(8))


@router.post("", status_code=201, response_model=BookingResponse)
async def create_booking(body: CreateBookingRequest, request: Request, svc: Services = Depends(services),
                         idempotency_key: IdempotencyKey = None,
                         audit: AuditEntry = audited("create_booking", "booking")) -> BookingResponse:
    """With an Idempotency-Key the booking's id is derived from the caller and the key, so a
    retried request reaches the entity that the first one created, which answers with it."""
    who = principal_of(request)
    booking_id = (uuid.uuid4() if idempotency_key is None else
                  uuid.uuid5(IDEMPOTENT_BOOKINGS, f"{who.tenant_id}\n{who.user_id}\n{idempotency_key}"))
    audit.target_id = str(booking_id)
    booking = await svc.bookings.create(
        booking_id, tenant_id=who.tenant_id, user_id=who.user_id, resource_id=body.resource_id,
        confirmation_code=new_confirmation_code(), starts_at=body.starts_at, ends_at=body.ends_at)
    return BookingResponse.from_row(booking)


@router.get("", response_model=list[BookingResponse])
async def list_bookings(request: Request, svc: Services = Depends(services),
                        limit: int = Query(100, ge=1, le=500)) -> list[BookingResponse]:
    """The caller's own bookings, newest first."""
    who = principal_of(request)
    rows = await repo.list_user_bookings(svc.pool, who.tenant_id, who.user_id, limit)
    return [BookingResponse.from_row(row) for row in rows]


@router.get("/{booking_id}", response_model=BookingResponse)
async def get_booking(booking_id: uuid.UUID, request: Request,
                      svc: Services = Depends(services)) -> BookingResponse:
    who = principal_of(request)
    return BookingResponse.from_row(await svc.bookings.get(
        booking_id, tenant_id=who.tenant_id, user_id=who.user_id, operator=who.is_operator))


@router.post("/{booking_id}/complete", response_model=BookingResponse)
async def complete_booking(booking_id: uuid.UUID, request: Request, svc: Services = Depends(services),
                           _: AuditEntry = audited("complete_booking", "booking", "booking_id")) -> BookingResponse:
    who = operator_of(request, "complete bookings")
    return BookingResponse.from_row(await svc.bookings.complete(booking_id, tenant_id=who.tenant_id))


@router.post("/{booking_id}/cancel", response_model=CancellationResponse)
async def cancel_booking(booking_id: uuid.UUID, body: CancelBookingRequest, request: Request,
                         svc: Services = Depends(services),
                         audit: AuditEntry = audited("cancel_booking", "booking", "booking_id")) -> CancellationResponse:
    """ADR-023 cancel: 200 with the (stored) cancellation; idempotent for repeats."""
    who = principal_of(request)
    started = time.perf_counter()
    outcome = "INTERNAL_ERROR"
    try:
        if not await svc.flags.enabled_for(BOOKING_CANCELLATION_FLAG, who.user_id):
            raise ApiError("FEATURE_DISABLED", "Booking cancellation is not enabled for this user")
        cancellation = await svc.bookings.cancel(booking_id, tenant_id=who.tenant_id, user_id=who.user_id,
                                                 reason=body.reason, notes=body.notes)
        outcome = audit.outcome = "already_cancelled" if cancellation.already_cancelled else "cancelled"
        return CancellationResponse.from_row(cancellation.booking)
    except DomainError as exc:
        outcome = exc.code
        raise
    finally:
        _observe_cancel(who, booking_id, outcome, started, request)


def _observe_cancel(who: Principal, booking_id: uuid.UUID, outcome: str, started: float,
                    request: Request) -> None:
    """Metrics and one JSON log line."""
    elapsed = time.perf_counter() - started
    status = {"cancelled": "success", "already_cancelled": "success", "CONFLICT": "conflict"}.get(
        outcome, "error")
    metrics.CANCELLATION_REQUESTS.inc(tags={"status": status})
    metrics.CANCELLATION_DURATION.observe(elapsed)
    if status == "error":
        metrics.CANCELLATION_ERRORS.inc(tags={"error_type": outcome})
    log.info("cancel_booking", extra={"request_id": request.state.request_id, "booking_id": str(booking_id),
                                      "user_id": who.user_id, "outcome": outcome,
                                      "duration_ms": round(elapsed * 1000, 2)})
