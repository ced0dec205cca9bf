"""The booking HTTP API (Ray Serve ingress): create, read, complete and cancel bookings.

Each request is routed to the booking's entity actor; this replica only authenticates,
validates, checks the feature flag, maps replies to HTTP and audit-logs cancellations.
"""


import asyncio
import logging
import secrets
import time
import uuid
from datetime import datetime, timezone
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from ray import serve

from actors.entity_runtime import ShardRouter
from cluster import metrics
from cluster.logs import configure_json_logging
from cluster.settings import StackSettings
from cluster.topology import booking_router, find_relays
from db.audit import AuditRecord
from db.flags import BOOKING_CANCELLATION_FLAG
from db.pool import create_pool
from serve_apps.audit_writer import AuditWriter
from serve_apps.auth import Principal, TokenVerifier
from serve_apps.errors import ApiError, error_response, install_error_handlers
from serve_apps.feature_flags import FeatureFlagCache
from serve_apps.middleware import RequestContextMiddleware
from serve_apps.schemas import (
    BookingResponse, CancelBookingRequest, CancellationResponse, CreateBookingRequest, ErrorBody,
)

log = logging.getLogger("fleetray.bookings")

CONFIRMATION_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
HEALTH_TIMEOUT_SECONDS = 3.0

api = FastAPI(title="fleetray bookings", version="0.1.0")
install_error_handlers(api)
api.add_middleware(RequestContextMiddleware, verifier=lambda: getattr(api.state, "verifier", None))

ERRORS = {400: {"model": ErrorBody}, 401: {"model": ErrorBody}, 403: {"model": ErrorBody},
          404: {"model": ErrorBody}, 409: {"model": ErrorBody}, 500: {"model": ErrorBody}}


def new_confirmation_code() -> str:
    return "".join(secrets.choice(CONFIRMATION_ALPHABET) for _ in range(8))


def principal_of(request: Request) -> Principal:
    return request.state.principal


def booking_of(reply: dict[str, Any]) -> dict[str, Any]:
    """The booking of an entity reply, or the reply's domain error as an ApiError."""
    if "error" in reply:
        raise ApiError(reply["error"], reply["message"])
    return reply["booking"]


# Serve's per-request access log cost ~15% of this replica's CPU under load; the cancel
# endpoint writes its own JSON line (with request id and outcome) and the audit log instead.
@serve.deployment(max_ongoing_requests=256,
                  logging_config={"encoding": "JSON", "enable_access_log": False})
@serve.ingress(api)
class BookingApi:
    async def __init__(self, settings: dict[str, Any]):
        configure_json_logging()
        self.settings = StackSettings.model_validate(settings)
        api.state.verifier = TokenVerifier(self.settings.auth)
        self.pool = await create_pool(self.settings.database_url, min_size=1, max_size=4)
        self.router: ShardRouter = booking_router(self.settings)
        self.flags = FeatureFlagCache(self.pool)
        self.audit = AuditWriter(self.pool)

    @api.get("/healthz")
    async def healthz(self) -> JSONResponse:
        """200 only when the database, the broker (through a relay) and the shards answer."""
        async def database() -> bool:
            return await self.pool.fetchval("SELECT 1") == 1

        async def broker() -> bool:
            relays = find_relays(self.settings)
            return bool(relays) and await relays[0].broker_reachable.remote()

        async def actors() -> bool:
            await asyncio.gather(*(s.stats.remote() for s in self.router.shards))
            return True

        checks = {}
        for name, check in (("database", database), ("broker", broker), ("actors", actors)):
            try:
                checks[name] = await asyncio.wait_for(check(), HEALTH_TIMEOUT_SECONDS)
            except Exception:
                checks[name] = False
        ok = all(checks.values())
        return JSONResponse({"status": "ok" if ok else "unavailable", "checks": checks}, 200 if ok else 503)

    @api.post("/v1/bookings", status_code=201, response_model=BookingResponse, responses=ERRORS)
    async def create_booking(self, body: CreateBookingRequest, request: Request) -> BookingResponse:
        who = principal_of(request)
        booking_id = str(uuid.uuid4())
        reply = await self.router.ask(booking_id, "create", {
            "tenant_id": who.tenant_id, "user_id": who.user_id, "resource_id": body.resource_id,
            "confirmation_code": new_confirmation_code(), "starts_at": body.starts_at,
            "ends_at": body.ends_at})
        return BookingResponse.from_row(booking_of(reply))

    @api.get("/v1/bookings/{booking_id}", response_model=BookingResponse, responses=ERRORS)
    async def get_booking(self, booking_id: uuid.UUID, request: Request) -> BookingResponse:
        who = principal_of(request)
        reply = await self.router.ask(str(booking_id), "get", {
            "tenant_id": who.tenant_id, "user_id": who.user_id, "role": who.role})
        return BookingResponse.from_row(booking_of(reply))

    @api.post("/v1/bookings/{booking_id}/complete", response_model=BookingResponse, responses=ERRORS)
    async def complete_booking(self, booking_id: uuid.UUID, request: Request) -> BookingResponse:
        who = principal_of(request)
        if who.role != "operator":
            raise ApiError("FORBIDDEN", "Only operators can complete bookings")
        reply = await self.router.ask(str(booking_id), "complete", {"tenant_id": who.tenant_id})
        return BookingResponse.from_row(booking_of(reply))

    @api.post("/v1/bookings/{booking_id}/cancel", response_model=CancellationResponse, responses=ERRORS)
    async def cancel_booking(self, booking_id: uuid.UUID, body: CancelBookingRequest,
                             request: Request) -> CancellationResponse:
        """ADR-023 cancel: 200 with the (stored) cancellation; idempotent for repeats."""
        who = principal_of(request)
        started = time.perf_counter()
        outcome = "INTERNAL_ERROR"
        try:
            if not await self.flags.enabled_for(BOOKING_CANCELLATION_FLAG, who.user_id):
                raise ApiError("FEATURE_DISABLED", "Booking cancellation is not enabled for this user")
            reply = await self.router.ask(str(booking_id), "cancel", {
                "tenant_id": who.tenant_id, "user_id": who.user_id, "reason": body.reason,
                "notes": body.notes})
            booking = booking_of(reply)
            outcome = "already_cancelled" if reply.get("already_cancelled") else "cancelled"
            return CancellationResponse.from_row(booking)
        except ApiError as exc:
            outcome = exc.code
            raise
        finally:
            self._observe_cancel(who, booking_id, outcome, started, request)

    def _observe_cancel(self, who: Principal, booking_id: uuid.UUID, outcome: str,
                        started: float, request: Request) -> None:
        elapsed = time.perf_counter() - started
        status = {"cancelled": "success", "already_cancelled": "success", "CONFLICT": "conflict"}.get(
            outcome, "error")
        metrics.CANCELLATION_REQUESTS.labels(status).inc()
        metrics.CANCELLATION_DURATION.observe(elapsed)
        if status == "error":
            metrics.CANCELLATION_ERRORS.labels(outcome).inc()
        request_id = request.state.request_id
        self.audit.record(AuditRecord(
            occurred_at=datetime.now(timezone.utc), action="cancel_booking",
            tenant_id=who.tenant_id, user_id=who.user_id,
            ip_address=request.client.host if request.client else None,
            booking_id=str(booking_id), outcome=outcome, request_id=request_id))
        log.info("cancel_booking", extra={"request_id": request_id, "booking_id": str(booking_id),
                                          "user_id": who.user_id, "outcome": outcome,
                                          "duration_ms": round(elapsed * 1000, 2)})
