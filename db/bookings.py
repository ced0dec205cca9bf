"""Booking rows: create, load, and the ADR-023 cancellation transaction (row + outbox event)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

BOOKING_COLUMNS = (
    "id, tenant_id, user_id, resource_id, status, confirmation_code, starts_at, ends_at, "
    "created_at, cancelled_at, cancellation_reason, cancellation_notes, version"
)


class VersionConflict(Exception):
    """The row's version moved on since it was read: another writer got there first."""


async def fetch_booking(conn: asyncpg.Connection | asyncpg.Pool, booking_id: uuid.UUID) -> dict[str, Any] | None:
    row = await conn.fetchrow(f"SELECT {BOOKING_COLUMNS} FROM bookings WHERE id = $1", booking_id)
    return dict(row) if row else None


async def fetch_bookings(conn: asyncpg.Connection | asyncpg.Pool, booking_ids: list[uuid.UUID]) -> dict[uuid.UUID, dict[str, Any]]:
    """The stored rows of the given bookings by id (those that exist)."""
    rows = await conn.fetch(f"SELECT {BOOKING_COLUMNS} FROM bookings WHERE id = ANY($1::uuid[])", booking_ids)
    return {row["id"]: dict(row) for row in rows}


async def list_user_bookings(conn: asyncpg.Connection | asyncpg.Pool, tenant_id: str, user_id: str, limit: int) -> list[dict[str, Any]]:
    """A user's bookings in a tenant, newest first (idx_bookings_tenant_user). Bookings are not
    under row-level security: the tenant is in the query."""
    rows = await conn.fetch(
        f"""SELECT {BOOKING_COLUMNS} FROM bookings WHERE tenant_id = $1 AND user_id = $2
             ORDER BY created_at DESC LIMIT $3""", tenant_id, user_id, limit)
    return [dict(row) for row in rows]


@dataclass(frozen=True)
class NewBooking:
    booking_id: uuid.UUID
    tenant_id: str
    user_id: str
    resource_id: str
    confirmation_code: str
    starts_at: datetime
    ends_at: datetime


async def insert_bookings(conn: asyncpg.Connection | asyncpg.Pool, bookings: list[NewBooking]) -> list[dict[str, Any]]:
    """Insert confirmed bookings, each with its resource reservation, atomically (one statement,
    so one implicit transaction and one round trip); returns their rows in order. Raises (and
    writes nothing) when one of them cannot be stored, e.g. an id that exists."""
    rows = await conn.fetch(
        f"""WITH wanted AS (
                SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[],
                                     $6::timestamptz[], $7::timestamptz[])
                    AS w(id, tenant_id, user_id, resource_id, confirmation_code, starts_at, ends_at)),
            inserted AS (
                INSERT INTO bookings (id, tenant_id, user_id, resource_id, status, confirmation_code, starts_at, ends_at)
                SELECT id, tenant_id, user_id, resource_id, 'confirmed', confirmation_code, starts_at, ends_at
                  FROM wanted
             RETURNING {BOOKING_COLUMNS}),
            reserved AS (
                INSERT INTO resource_reservations (booking_id, tenant_id, resource_id, starts_at, ends_at)
                SELECT id, tenant_id, resource_id, starts_at, ends_at FROM inserted)
            SELECT * FROM inserted""",
        *map(list, zip(*((b.booking_id, b.tenant_id, b.user_id, b.resource_id, b.confirmation_code, b.starts_at,
                          b.ends_at) for b in bookings))),
    )
    by_id = {row["id"]: dict(row) for row in rows}
    return [by_id[b.booking_id] for b in bookings]


@dataclass(frozen=True)
class CancellationRow:
    """One booking's cancellation as written: the version it was read at (the guard), its
    fields, and the outbox event with the trace context (W3C) its publish and effects join."""

    booking_id: uuid.UUID
    expected_version: int
    cancelled_at: datetime
    reason: str
    notes: str | None
    event: dict[str, Any]
    trace_context: dict[str, str] | None = None


async def cancel_bookings(conn: asyncpg.Connection, cancellations: list[CancellationRow]) -> dict[uuid.UUID, dict[str, Any]]:
    """Cancel many bookings with the optimistic version check per row and write each one's
    outbox event, atomically. Returns the cancelled rows by booking id; a booking missing from
    it had moved on from its expected version (or was not confirmed) and nothing was written
    for it. The caller sends each booking at most once per call."""
    # One statement, so one implicit transaction and one round trip for the whole group: each
    # UPDATE and its outbox INSERT commit together or not at all.
    rows = await conn.fetch(
        f"""WITH wanted AS (
                SELECT * FROM unnest($1::uuid[], $2::int[], $3::timestamptz[], $4::text[], $5::text[],
                                     $6::uuid[], $7::jsonb[], $8::jsonb[])
                    AS w(id, version, cancelled_at, reason, notes, event_id, event, trace_context)),
            updated AS (
                UPDATE bookings b
                   SET status = 'cancelled', cancelled_at = w.cancelled_at, cancellation_reason = w.reason,
                       cancellation_notes = w.notes, version = b.version + 1, updated_at = now()
                  FROM wanted w
                 WHERE b.id = w.id AND b.version = w.version AND b.status = 'confirmed'
             RETURNING {", ".join(f"b.{c.strip()}" for c in BOOKING_COLUMNS.split(","))}),
            event AS (
                INSERT INTO booking_outbox (event_id, booking_id, event_type, event_payload, trace_context)
                SELECT w.event_id, w.id, w.event->>'event_type', w.event, w.trace_context
                  FROM wanted w JOIN updated u ON u.id = w.id)
            SELECT * FROM updated""",
        [c.booking_id for c in cancellations], [c.expected_version for c in cancellations],
        [c.cancelled_at for c in cancellations], [c.reason for c in cancellations], [c.notes for c in cancellations],
        [uuid.UUID(c.event["event_id"]) for c in cancellations], [c.event for c in cancellations],
        [c.trace_context for c in cancellations],
    )
    return {row["id"]: dict(row) for row in rows}


async def complete_booking(
    conn: asyncpg.Connection, *, booking_id: uuid.UUID, expected_version: int
) -> dict[str, Any]:
    row = await conn.fetchrow(
        f"""UPDATE bookings SET status = 'completed', version = version + 1, updated_at = now()
             WHERE id = $1 AND version = $2 AND status = 'confirmed'
         RETURNING {BOOKING_COLUMNS}""",
        booking_id, expected_version,
    )
    if row is None:
        raise VersionConflict(str(booking_id))
    return dict(row)
