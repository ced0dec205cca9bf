"""Group commit of telemetry: rows from many vehicle entities of one shard go to PostgreSQL in
one COPY; each writer waits until its rows are committed, so an acknowledged batch is durable
while the database sees a few large writes instead of many small ones. Alert events raised by
those readings commit in the same transaction (history + outbox), so none is lost or orphaned.

A reading stored already (its ingest sent again) is stored once: the COPY refuses it, and the
flush is written again skipping what is there. When the shared write fails otherwise, each
writer's part is written again on its own: a row PostgreSQL refuses then fails only the batch
that brought it, never the other vehicles' in that flush."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import asyncpg

from db.events import VehicleAlertEvent
from db.vehicle_alerts import record_alert_events
from db.vehicles import READING_IDENTITY, copy_telemetry, insert_new_telemetry


@dataclass(slots=True)
class _Part:
    """One writer's rows and alert events, and the future it waits on."""

    rows: list[tuple]
    alerts: list[VehicleAlertEvent]
    done: asyncio.Future = field(repr=False)


class TelemetryWriter:
    def __init__(self, pool: asyncpg.Pool, max_delay: float = 0.01, max_rows: int = 20_000):
        self.pool = pool
        self.max_delay = max_delay
        self.max_rows = max_rows
        self.rows_written = 0
        self.parts_refused = 0
        self._pending: list[_Part] = []
        self._pending_rows = 0
        self._flusher: asyncio.Task | None = None

    async def write(self, rows: list[tuple], alerts: list[VehicleAlertEvent] = ()) -> None:
        """Queue rows and alert events; return once they are committed (raises if that failed)."""
        if not rows and not alerts:
            return
        part = _Part(list(rows), list(alerts), asyncio.get_running_loop().create_future())
        self._pending.append(part)
        self._pending_rows += len(part.rows)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.ensure_future(self._flush_soon())
        await part.done

    async def _flush_soon(self) -> None:
        while self._pending:
            if self._pending_rows < self.max_rows:
                await asyncio.sleep(self.max_delay)  # let concurrent writers join this COPY
            parts, self._pending, self._pending_rows = self._pending, [], 0
            try:
                await self._commit(parts)
            except Exception as exc:
                if len(parts) == 1:
                    self._settle(parts[0], exc)
                    continue
                for part in parts:  # find the part the database refuses; the others commit
                    try:
                        await self._commit([part])
                    except Exception as part_exc:
                        self._settle(part, part_exc)
                    else:
                        self._settle(part, None)
                continue
            for part in parts:
                self._settle(part, None)

    async def _commit(self, parts: list[_Part]) -> None:
        rows = [row for part in parts for row in part.rows]
        alerts = [alert for part in parts for alert in part.alerts]
        async with self.pool.acquire() as conn:
            try:
                async with conn.transaction():
                    if rows:
                        await copy_telemetry(conn, rows)
                    await record_alert_events(conn, alerts)
            except asyncpg.UniqueViolationError as exc:
                if exc.constraint_name != READING_IDENTITY:
                    raise
                async with conn.transaction():  # a resent batch: store what is new, once
                    await insert_new_telemetry(conn, rows)
                    await record_alert_events(conn, alerts)

    def _settle(self, part: _Part, exc: Exception | None) -> None:
        if exc is None:
            self.rows_written += len(part.rows)
        else:
            self.parts_refused += 1
        if part.done.done():  # its writer was cancelled
            return
        if exc is None:
            part.done.set_result(None)
        else:
            part.done.set_exception(exc)
