"""Vehicle rows, telemetry (bulk COPY) and trouble-code history."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable, Mapping, Sequence

import asyncpg

TELEMETRY_COLUMNS = ("vehicle_id", "tenant_id", "pid", "value", "unit", "captured_at")


async def insert_vehicle(conn, *, vehicle_id: str, tenant_id: str, name: str, vin: str | None,
                         adapter: dict[str, Any]) -> dict[str, Any] | None:
    """Register a vehicle; None when the id is already taken."""
    row = await conn.fetchrow(
        """INSERT INTO vehicles (id, tenant_id, name, vin, adapter) VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (id) DO NOTHING RETURNING *""", vehicle_id, tenant_id, name, vin, adapter)
    return dict(row) if row else None


async def fetch_vehicle(conn, vehicle_id: str) -> dict[str, Any] | None:
    row = await conn.fetchrow("SELECT * FROM vehicles WHERE id = $1", vehicle_id)
    return dict(row) if row else None


async def record_vin(conn, vehicle_id: str, vin: str) -> None:
    """Store the VIN the adapter reported, unless one is already registered."""
    await conn.execute("UPDATE vehicles SET vin = $2 WHERE id = $1 AND vin IS NULL", vehicle_id, vin)


async def record_standing(conn, vehicle_id: str, connection: str, health_score: float) -> None:
    """The vehicle's connection and health as its entity last saw them (for search facets)."""
    await conn.execute("UPDATE vehicles SET connection = $2, health_score = $3 WHERE id = $1",
                       vehicle_id, connection, health_score)


async def list_vehicles(conn, tenant_id: str) -> list[dict[str, Any]]:
    return [dict(r) for r in await conn.fetch(
        "SELECT * FROM vehicles WHERE tenant_id = $1 ORDER BY id", tenant_id)]


async def latest_readings(conn, vehicle_id: str) -> list[dict[str, Any]]:
    """The newest stored value of each PID (to re-activate a vehicle's live state)."""
    return [dict(r) for r in await conn.fetch(
        """SELECT DISTINCT ON (pid) pid, value, unit, captured_at FROM telemetry
            WHERE vehicle_id = $1 ORDER BY pid, captured_at DESC""", vehicle_id)]


# The unique index that makes a reading (vehicle, PID, instant) one row (migration 0011).
READING_IDENTITY = "idx_telemetry_vehicle_pid_time"


async def copy_telemetry(conn: asyncpg.Connection, rows: Iterable[tuple]) -> None:
    """Raises asyncpg.UniqueViolationError (constraint READING_IDENTITY) when one of the rows is
    stored already; then insert_new_telemetry writes the others."""
    await conn.copy_records_to_table("telemetry", records=rows, columns=TELEMETRY_COLUMNS)


async def insert_new_telemetry(conn: asyncpg.Connection, rows: Iterable[tuple]) -> None:
    """The rows not stored yet, skipping those that are: COPY into a temporary table, then INSERT
    ... ON CONFLICT DO NOTHING. 1.6 times copy_telemetry's database time per row (measured), so
    only a batch that brought a stored reading goes this way."""
    await conn.execute("CREATE TEMP TABLE IF NOT EXISTS telemetry_incoming (LIKE telemetry) ON COMMIT DELETE ROWS")
    await conn.copy_records_to_table("telemetry_incoming", records=rows, columns=TELEMETRY_COLUMNS)
    await conn.execute("INSERT INTO telemetry SELECT * FROM telemetry_incoming ON CONFLICT DO NOTHING")


async def telemetry_history(conn, vehicle_id: str, pid: str | None, since: datetime | None,
                            until: datetime | None, limit: int) -> list[dict[str, Any]]:
    return [dict(r) for r in await conn.fetch(
        """SELECT pid, value, unit, captured_at FROM telemetry
            WHERE vehicle_id = $1 AND ($2::text IS NULL OR pid = $2)
              AND ($3::timestamptz IS NULL OR captured_at >= $3)
              AND ($4::timestamptz IS NULL OR captured_at < $4)
            ORDER BY captured_at DESC LIMIT $5""", vehicle_id, pid, since, until, limit)]


async def last_reading_each_day(conn, vehicle_id: str, pids: Iterable[str], until: datetime, days: int
                                ) -> list[datetime | None]:
    """For k = 1 .. days: when the vehicle last reported any of `pids` in the day that ends k
    days before `until` ((until - k - 1 days, until - k days]), or None. One query; one backward
    index probe per day and PID (idx_telemetry_vehicle_pid_time), however many readings a day holds."""
    found = dict(await conn.fetch(
        """SELECT k, max(last.captured_at) FROM generate_series(1, $4::int) AS k, unnest($2::text[]) AS p(pid),
               LATERAL (SELECT captured_at FROM telemetry
                         WHERE vehicle_id = $1 AND pid = p.pid
                           AND captured_at > $3::timestamptz - make_interval(secs => (k + 1) * 86400.0)
                           AND captured_at <= $3::timestamptz - make_interval(secs => k * 86400.0)
                         ORDER BY captured_at DESC LIMIT 1) AS last
            GROUP BY k""", vehicle_id, list(pids), until, days))
    return [found.get(k) for k in range(1, days + 1)]


async def telemetry_grids(conn, vehicle_id: str, pids: Iterable[str], starts: Sequence[datetime],
                          step_seconds: float, samples: int) -> list[dict[str, list[float | None]]]:
    """For each start, each PID's readings on a regular grid of `samples` steps from it: the
    last value in each step, None where a step has none (a sensor dropout). One query."""
    pids = list(pids)
    grids: list[dict[str, list[float | None]]] = [{pid: [None] * samples for pid in pids} for _ in starts]
    for r in await conn.fetch(
            """SELECT w.i AS w, grid.pid, grid.step, grid.value
                 FROM unnest($3::timestamptz[]) WITH ORDINALITY AS w(start, i),
                 LATERAL (SELECT DISTINCT ON (pid, step) pid, step, value FROM (
                              SELECT pid, value, captured_at,
                                     floor(extract(epoch FROM captured_at - w.start) / $4::float8)::int AS step
                                FROM telemetry
                               WHERE vehicle_id = $1 AND pid = ANY($2::text[]) AND captured_at >= w.start
                                 AND captured_at < w.start + make_interval(secs => $4::float8 * $5::int)) binned
                           ORDER BY pid, step, captured_at DESC) AS grid""",
            vehicle_id, pids, list(starts), step_seconds, samples):
        grids[r["w"] - 1][r["pid"]][r["step"]] = r["value"]
    return grids


async def record_dtc_report(conn: asyncpg.Connection, *, vehicle_id: str, tenant_id: str,
                            codes: dict[str, str], at: datetime,
                            freeze_frames: Mapping[str, dict[str, Any]] | None = None,
                            ) -> tuple[list[str], list[str]]:
    """Apply one mode-03 report to the history: open codes not seen before (with their freeze
    frame, if the report has one), refresh last_seen of codes still present, clear codes that
    are gone. Returns (new codes, cleared codes). A frame for a code already open is ignored:
    it belongs to the occurrence that is open, which has its own."""
    async with conn.transaction():
        open_codes = {r["code"] for r in await conn.fetch(
            "SELECT code FROM dtc_history WHERE vehicle_id = $1 AND cleared_at IS NULL", vehicle_id)}
        new = sorted(set(codes) - open_codes)
        cleared = sorted(open_codes - set(codes))
        await conn.executemany(
            """INSERT INTO dtc_history (vehicle_id, tenant_id, code, description, first_seen, last_seen,
                                        freeze_frame)
               VALUES ($1, $2, $3, $4, $5, $5, $6)""",
            [(vehicle_id, tenant_id, code, codes[code], at, (freeze_frames or {}).get(code)) for code in new])
        if new:  # the tenant's catalogue of codes, which search reads (db/search.py)
            await conn.execute(
                """INSERT INTO tenant_trouble_codes (tenant_id, code, description)
                   SELECT $1, * FROM unnest($2::text[], $3::text[]) ON CONFLICT DO NOTHING""",
                tenant_id, new, [codes[code] for code in new])
        await conn.execute(
            """UPDATE dtc_history SET last_seen = $2 WHERE vehicle_id = $1 AND cleared_at IS NULL
               AND code = ANY($3::text[])""", vehicle_id, at, sorted(set(codes) & open_codes))
        await conn.execute(
            """UPDATE dtc_history SET cleared_at = $2 WHERE vehicle_id = $1 AND cleared_at IS NULL
               AND code = ANY($3::text[])""", vehicle_id, at, cleared)
    return new, cleared


async def dtc_history(conn, vehicle_id: str) -> list[dict[str, Any]]:
    return [dict(r) for r in await conn.fetch(
        """SELECT code, description, first_seen, last_seen, cleared_at, freeze_frame FROM dtc_history
            WHERE vehicle_id = $1 ORDER BY first_seen DESC""", vehicle_id)]


async def record_pad_change(conn, *, vehicle_id: str, tenant_id: str, changed_at: datetime) -> None:
    """Record a brake pad change (recording the same one again changes nothing)."""
    await conn.execute(
        """INSERT INTO brake_pad_changes (vehicle_id, tenant_id, changed_at) VALUES ($1, $2, $3)
           ON CONFLICT DO NOTHING""", vehicle_id, tenant_id, changed_at)


async def latest_pad_change(conn, vehicle_id: str) -> datetime | None:
    return await conn.fetchval("SELECT max(changed_at) FROM brake_pad_changes WHERE vehicle_id = $1", vehicle_id)


async def distance_driven(conn, vehicle_id: str, since: datetime, max_gap_seconds: float
                          ) -> tuple[float, datetime | None]:
    """Kilometres driven from `since` on, from the SPEED readings: each reading's speed times the
    time to the next one (gaps over max_gap_seconds, an adapter that was away, count nothing);
    and the time of the last reading, from which the next call goes on (its step to the next
    reading is not counted yet, so consecutive calls add up to one call over the whole range)."""
    row = await conn.fetchrow(
        """SELECT coalesce(sum(value * extract(epoch FROM next_at - captured_at))
                           FILTER (WHERE next_at - captured_at <= make_interval(secs => $3)), 0) / 3600.0 AS km,
                  max(captured_at) AS last_at
             FROM (SELECT value, captured_at, lead(captured_at) OVER (ORDER BY captured_at) AS next_at
                     FROM telemetry WHERE vehicle_id = $1 AND pid = 'SPEED' AND captured_at >= $2) AS speeds""",
        vehicle_id, since, max_gap_seconds)
    return float(row["km"]), row["last_at"]
