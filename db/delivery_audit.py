"""Which events an outbox published that a reader of its topic has not applied, and sending
them again.

A relay marks an outbox row published once the broker acknowledged it; a reader (a consumer
group, the fleet alert feed) records each event it applied in processed_events. A row
published more than `grace` ago with no processed_events row of a reader that has read
everything the broker holds was lost on the way (a broker that lost acknowledged records, a
feed that was restarting). Handing the row back to the relays (processed_at cleared) publishes
it again with its own event id; the reader's de-duplication makes a second delivery harmless.

Each round reads only rows published since the oldest one it left unapplied, or since its
horizon (now - grace) when there was none: a relay dates a row when it marks it (db/outbox.py
mark_processed) and commits right after, well within the grace period.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from db.outbox import OutboxTable

# One audit round looks at this many unapplied events per group at most (the oldest first).
AUDIT_BATCH = 1000


@dataclass(frozen=True)
class Unapplied:
    """A group's unapplied events published between `since` and `horizon` (now - grace)."""

    row_ids: list[int]
    oldest_published_at: datetime | None
    oldest_age_seconds: float  # 0 when none
    horizon: datetime  # the database's now() - grace: where the next round may start when none is found


async def unapplied_events(conn: asyncpg.Connection | asyncpg.Pool, table: OutboxTable, group: str,
                           grace_seconds: float, since: datetime | None) -> Unapplied:
    """The oldest AUDIT_BATCH events of `table` published after `since` (None: ever) and more
    than `grace_seconds` ago that `group` has not applied."""
    rows = await conn.fetch(
        f"""WITH horizon AS (SELECT now() - make_interval(secs => $2) AS at)
            SELECT o.id, o.processed_at, EXTRACT(EPOCH FROM now() - o.processed_at) AS age, horizon.at AS horizon
              FROM horizon LEFT JOIN LATERAL (
                   SELECT r.id, r.processed_at FROM {table.name} r
                    WHERE r.processed_at IS NOT NULL AND r.processed_at < horizon.at
                      AND ($3::timestamptz IS NULL OR r.processed_at >= $3)
                      AND NOT EXISTS (SELECT 1 FROM processed_events p
                                       WHERE p.consumer = $1 AND p.event_id = r.event_id)
                    ORDER BY r.processed_at LIMIT $4) o ON true""",
        group, grace_seconds, since, AUDIT_BATCH)
    found = [r for r in rows if r["id"] is not None]
    return Unapplied([r["id"] for r in found], found[0]["processed_at"] if found else None,
                     float(found[0]["age"]) if found else 0.0, rows[0]["horizon"])


async def republish(conn: asyncpg.Connection, table: OutboxTable, row_ids: list[int]) -> int:
    """Hand published rows of `table` back to its relays and wake them; returns how many went back."""
    async with conn.transaction():
        again = await conn.fetchval(
            f"""WITH again AS (UPDATE {table.name} SET processed_at = NULL, next_attempt_at = now()
                                WHERE id = ANY($1::bigint[]) AND processed_at IS NOT NULL RETURNING 1)
                SELECT count(*) FROM again""", row_ids)
        if again:
            await conn.execute("SELECT pg_notify($1, '')", table.channel)
    return again
