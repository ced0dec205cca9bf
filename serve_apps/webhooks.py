"""Signed telematics webhooks: a provider pushes a vehicle's readings without a JWT. The raw
body is authenticated by HMAC-SHA256 over "{timestamp}.{body}" with the tenant's shared secret
(the API's webhook_secrets); a timestamp more than MAX_SKEW_SECONDS from now is refused, so a
captured request cannot be replayed later. The bearer-auth middleware skips PATH_PREFIX."""

from __future__ import annotations

import hashlib
import hmac
import time

from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import RequestValidationError
from pydantic import Field, ValidationError

from db.readings import VEHICLE_ID_PATTERN
from serve_apps.errors import ERROR_RESPONSES, ApiError
from serve_apps.services import Services, services
from serve_apps.vehicle_schemas import TelemetryBatch
from serve_apps.vehicles import ingest_readings

PATH_PREFIX = "/v1/webhooks/"
SIGNATURE_HEADER = "X-Fleetray-Signature"
TIMESTAMP_HEADER = "X-Fleetray-Timestamp"
MAX_SKEW_SECONDS = 300

router = APIRouter(prefix=PATH_PREFIX.rstrip("/"), tags=["webhooks"], responses=ERROR_RESPONSES)


class TelematicsDelivery(TelemetryBatch):
    """One vehicle's readings, in the schema of POST /v1/vehicles/{id}/telemetry."""

    vehicle_id: str = Field(pattern=VEHICLE_ID_PATTERN)


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The X-Fleetray-Signature value of `body` sent with X-Fleetray-Timestamp `timestamp`."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: str | None, timestamp: str | None, sent: str | None, body: bytes, now: float) -> None:
    """Raise UNAUTHENTICATED unless `sent` signs `body` at a timestamp within the window.
    An unknown tenant (no secret) reads as a bad signature, so tenants cannot be probed."""
    if not timestamp or not sent:
        raise ApiError("UNAUTHENTICATED", f"Missing {SIGNATURE_HEADER} or {TIMESTAMP_HEADER}")
    # At most 12 digits: a longer number is no time of this era, and one of hundreds of digits
    # would overflow the float it is compared as.
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12) \
            or abs(now - int(timestamp)) > MAX_SKEW_SECONDS:
        raise ApiError("UNAUTHENTICATED", f"{TIMESTAMP_HEADER} must be unix seconds within {MAX_SKEW_SECONDS} s of now")
    expected = signature(secret, timestamp, body).encode() if secret else b""
    if not secret or not hmac.compare_digest(expected, sent.encode("latin-1")):
        raise ApiError("UNAUTHENTICATED", "Invalid webhook signature")


@router.post("/telematics/{tenant_id}", status_code=202)
async def telematics(tenant_id: str, request: Request, svc: Services = Depends(services)) -> dict[str, int]:
    """A provider's batch for one vehicle of `tenant_id`; 202 once in the live state and stored."""
    body = await request.body()
    verify(svc.webhook_secrets.get(tenant_id), request.headers.get(TIMESTAMP_HEADER),
           request.headers.get(SIGNATURE_HEADER), body, time.time())
    try:
        delivery = TelematicsDelivery.model_validate_json(body)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from exc
    # Counted once the signature proves the tenant: unsigned requests cannot use up its limit.
    refusal = await svc.rate_limiter.check("telemetry", tenant_id, f"vehicle {delivery.vehicle_id}")
    if refusal is not None:
        raise refusal.error()
    return await ingest_readings(svc, delivery.vehicle_id, tenant_id, delivery)
