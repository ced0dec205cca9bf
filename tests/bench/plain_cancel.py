"""The reference row of `make bench-cancel`: what a user would get without actors at all. One
plain process, Starlette on uvicorn (uvloop, httptools) with an asyncpg pool, doing only
ADR-023's cancellation: the bearer token verified (PyJWT), the body validated (the same pydantic
model as the API), and one transaction of SELECT ... FOR UPDATE, a version-checked UPDATE and
the outbox INSERT. No relay, no consumers, no audit, no metrics, no tracing.

    python -m tests.bench.plain_cancel --database-url URL --port PORT --secret SECRET

tests/bench/cancel.py runs it on a database of its own on the stack's PostgreSQL server (so
the stack's relays leave its outbox rows alone) and drives it with the same load generator.
"""

from __future__ import annotations

import argparse
import contextlib
import uuid
from datetime import datetime, timezone

import asyncpg
import jwt
import uvicorn
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from db.events import BookingCancelled
from serve_apps.schemas import CancelBookingRequest

AUDIENCE, ISSUER = "fleetray", "fleetray-local"


def create_app(database_url: str, secret: str, pool_size: int) -> Starlette:
    pool: asyncpg.Pool | None = None

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette):
        nonlocal pool
        async with asyncpg.create_pool(database_url, min_size=pool_size, max_size=pool_size) as pool:
            yield

    async def cancel(request: Request) -> Response:
        header = request.headers.get("authorization", "")
        try:
            claims = jwt.decode(header.removeprefix("Bearer "), secret, algorithms=["HS256"], audience=AUDIENCE,
                                issuer=ISSUER)
        except jwt.PyJWTError:
            return JSONResponse({"error": "UNAUTHENTICATED"}, 401)
        try:
            body = CancelBookingRequest.model_validate_json(await request.body())
            booking_id = uuid.UUID(request.path_params["booking_id"])
        except (ValidationError, ValueError):
            return JSONResponse({"error": "VALIDATION_ERROR"}, 400)
        now = datetime.now(timezone.utc)
        async with pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                """SELECT user_id, tenant_id, resource_id, confirmation_code, status, version
                     FROM bookings WHERE id = $1 FOR UPDATE""", booking_id)
            if row is None or row["tenant_id"] != claims["tenant"]:
                return JSONResponse({"error": "NOT_FOUND"}, 404)
            if row["user_id"] != claims["sub"]:
                return JSONResponse({"error": "UNAUTHORIZED"}, 403)
            if row["status"] != "confirmed":
                return JSONResponse({"error": "INVALID_STATUS"}, 409)
            updated = await conn.execute(
                """UPDATE bookings SET status = 'cancelled', cancelled_at = $2, cancellation_reason = $3,
                                       cancellation_notes = $4, version = version + 1, updated_at = now()
                    WHERE id = $1 AND version = $5""",
                booking_id, now, body.reason, body.notes, row["version"])
            if updated != "UPDATE 1":
                return JSONResponse({"error": "CONFLICT"}, 409)
            event = BookingCancelled(booking_id=booking_id, tenant_id=row["tenant_id"], user_id=row["user_id"],
                                     resource_id=row["resource_id"], confirmation_code=row["confirmation_code"],
                                     cancelled_at=now, reason=body.reason, notes=body.notes, occurred_at=now)
            await conn.execute(
                """INSERT INTO booking_outbox (event_id, booking_id, event_type, event_payload)
                   VALUES ($1, $2, $3, $4::jsonb)""",
                event.event_id, booking_id, event.event_type, event.model_dump_json())
        return JSONResponse({"booking_id": str(booking_id), "user_id": row["user_id"],
                             "resource_id": row["resource_id"], "status": "cancelled",
                             "cancelled_at": now.isoformat(), "cancellation_reason": body.reason,
                             "cancellation_notes": body.notes, "confirmation_code": row["confirmation_code"]})

    return Starlette(routes=[Route("/v1/bookings/{booking_id}/cancel", cancel, methods=["POST"])],
                     lifespan=lifespan)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--pool-size", type=int, default=20)
    args = parser.parse_args()
    uvicorn.run(create_app(args.database_url, args.secret, args.pool_size), host="127.0.0.1", port=args.port,
                loop="uvloop", http="httptools", log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
