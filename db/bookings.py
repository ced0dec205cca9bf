"""Booking rows: create, load, and the ADR-023 cancellation transaction (row + outbox event)."""

from __future__ import annotations

import uuid
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


async def insert_booking(
    conn: asyncpg.Connection,
    *,
    booking_id: uuid.UUID,
    tenant_id: str,
    user_id: str,
    resource_id: str,
    confirmation_code: str,
    starts_at: datetime,
    ends_at: datetime,
) -> dict[str, Any]:
    """Insert a confirmed booking and its resource reservation in one transaction."""
    async with conn.transaction():
        row = await conn.fetchrow(
            f"""INSERT INTO bookings (id, tenant_id, user_id, resource_id, status,
                                      confirmation_code, starts_at, ends_at)
                VALUES ($1, $2, $3, $4, 'confirmed', $5, $6, $7)
                RETURNING {BOOKING_COLUMNS}""",
            booking_id, tenant_id, user_id, resource_id, confirmation_code, starts_at, ends_at,
        )
        await conn.execute(
            """INSERT INTO resource_reservations (booking_id, tenant_id, resource_id, starts_at, ends_at)
               VALUES ($1, $2, $3, $4, $5)""",
            booking_id, tenant_id, resource_id, starts_at, ends_at,
        )
    return dict(row)


async def cancel_booking(
    conn: asyncpg.Connection,
    *,
    booking_id: uuid.UUID,
    expected_version: int,
    cancelled_at: datetime,
    reason: str,
    notes: str | None,
    event: dict[str, Any],
) -> dict[str, Any]:
    """Cancel with the optimistic version check and write the outbox event, atomically.

    Raises VersionConflict (nothing written) when the version no longer matches.
    """
    # One statement, so one implicit transaction and one round trip: the UPDATE and the outbox
    # INSERT commit together or not at all (an INSERT failure rolls the UPDATE back).
    row = await conn.fetchrow(
        f"""WITH updated AS (
                UPDATE bookings
                   SET status = 'cancelled', cancelled_at = $1, cancellation_reason = $2,
                       cancellation_notes = $3, version = version + 1, updated_at = now()
                 WHERE id = $4 AND version = $5 AND status = 'confirmed'
             RETURNING {BOOKING_COLUMNS}),
            event AS (
                INSERT INTO booking_outbox (event_id, booking_id, event_type, event_payload)
                SELECT $6, id, $7, $8 FROM updated)
            SELECT * FROM updated""",
        cancelled_at, reason, notes, booking_id, expected_version,
        uuid.UUID(event["event_id"]), event["event_type"], event,
    )
    if row is None:
        raise VersionConflict(str(booking_id))
    return dict(row)


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
