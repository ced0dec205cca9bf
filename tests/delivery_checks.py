"""Checks, from the database, that the system kept what it acknowledged (tests/multinode,
tests/soak): each acknowledged cancellation stored with one event that each consumer group
applied exactly once, each acknowledged reading stored exactly once, no alert raised twice for
one cause, nothing left in an outbox or its dead letters."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import datetime
from typing import Any

import asyncpg

from actors.consumers import CONSUMER_EFFECTS
from db.outbox import OUTBOXES


async def cancellations_applied(pool: asyncpg.Pool, booking_ids: list[str], within: float) -> dict[str, Any]:
    """Once every acknowledged cancellation is applied by each group, or `within` seconds have
    passed: how many are stored cancelled with exactly one event, and per consumer group how
    many it applied once, not at all, or more than once. A notification effect applied twice
    would write four notifications for an event instead of two."""
    deadline = time.monotonic() + within
    while True:
        applied = await _applied_per_group(pool, booking_ids)
        if all(a["missing"] == 0 for a in applied.values()) or time.monotonic() > deadline:
            break
        await asyncio.sleep(1)
    stored = await pool.fetchrow(
        """SELECT count(*) FILTER (WHERE b.status = 'cancelled') AS cancelled,
                  count(*) FILTER (WHERE (SELECT count(*) FROM booking_outbox o WHERE o.booking_id = b.id) = 1)
                    AS with_one_event
             FROM bookings b WHERE b.id = ANY($1::uuid[])""", booking_ids)
    return {"acknowledged": len(booking_ids), "stored_cancelled": stored["cancelled"],
            "with_one_event": stored["with_one_event"], "applied": applied}


async def _applied_per_group(pool: asyncpg.Pool, booking_ids: list[str]) -> dict[str, dict[str, int]]:
    rows = await pool.fetch(
        """SELECT o.booking_id,
                  (SELECT count(*) FROM notifications n WHERE n.event_id = o.event_id) AS notifications,
                  (SELECT count(*) FROM processed_events p
                    WHERE p.event_id = o.event_id AND p.consumer = 'notifications') AS notified,
                  (SELECT count(*) FROM processed_events p
                    WHERE p.event_id = o.event_id AND p.consumer = 'property-management') AS released_marks,
                  (SELECT bool_and(r.released_at IS NOT NULL) FROM resource_reservations r
                    WHERE r.booking_id = o.booking_id) AS released
             FROM booking_outbox o WHERE o.booking_id = ANY($1::uuid[])""", booking_ids)
    # Each event: notifications applied once = marked once with exactly two notifications (user
    # and property owner); property management applied once = marked once, reservation released.
    times = {"notifications": Counter(), "property-management": Counter()}
    for r in rows:
        times["notifications"][0 if not r["notified"] else r["notifications"] // 2] += 1
        times["property-management"][r["released_marks"] if r["released"] is not False else 0] += 1
    assert set(times) == set(CONSUMER_EFFECTS), "a consumer group without a check"
    return {group: {"once": counts[1], "missing": len(booking_ids) - sum(v for n, v in counts.items() if n > 0),
                    "more_than_once": sum(v for n, v in counts.items() if n > 1)}
            for group, counts in times.items()}


async def readings_stored(pool: asyncpg.Pool, tenant_id: str,
                          readings: list[tuple[str, str, datetime]]) -> dict[str, int]:
    """Of the acknowledged (vehicle, pid, captured_at) readings: stored once, missing, more."""
    rows = await pool.fetch(
        """SELECT vehicle_id, pid, captured_at, count(*) AS n FROM telemetry
            WHERE tenant_id = $1 GROUP BY 1, 2, 3""", tenant_id)
    stored = {(r["vehicle_id"], r["pid"], r["captured_at"]): r["n"] for r in rows}
    times = Counter(stored.get(reading, 0) for reading in readings)
    return {"acknowledged": len(readings), "stored_once": times[1], "missing": times[0],
            "stored_more_than_once": sum(v for n, v in times.items() if n > 1)}


async def alerts_raised(pool: asyncpg.Pool, tenant_id: str) -> dict[str, int]:
    """Alerts published as raised, and how many causes (vehicle, key, raised at) were published
    as raised more than once."""
    row = await pool.fetchrow(
        """SELECT count(*) AS causes, count(*) FILTER (WHERE n > 1) AS raised_twice FROM (
             SELECT count(*) AS n FROM vehicle_alert_outbox
              WHERE event_type = 'VehicleAlertRaised' AND event_payload->>'tenant_id' = $1
              GROUP BY vehicle_id, event_payload->>'alert_key', event_payload->>'raised_at') raised""", tenant_id)
    return {"raised": row["causes"], "raised_twice": row["raised_twice"]}


async def outboxes_left(pool: asyncpg.Pool, keys: dict[str, list[str]]) -> dict[str, dict[str, int]]:
    """Per outbox (by table name): the rows of the given keys (booking ids, vehicle ids) not
    published yet, and those in its dead letters."""
    left = {}
    for table in OUTBOXES.values():
        of_keys = f"{table.key_column}::text = ANY($1::text[])"
        left[table.name] = {
            "unpublished": await pool.fetchval(
                f"SELECT count(*) FROM {table.name} WHERE processed_at IS NULL AND {of_keys}", keys[table.name]),
            "dead_letters": await pool.fetchval(f"SELECT count(*) FROM {table.dlq} WHERE {of_keys}", keys[table.name])}
    return left
