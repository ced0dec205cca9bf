"""Group commit of telemetry: rows from many vehicle entities of one shard go to PostgreSQL in
one COPY; each writer waits until its rows are committed, so an acknowledged batch is durable
while the database sees a few large writes instead of many small ones. Alert events raised by
those readings commit in the same transaction (history + outbox), so none is lost or orphaned."""

from __future__ import annotations

import asyncio

import asyncpg

from actors.events import VehicleAlertEvent
from db.vehicle_alerts import record_alert_events
from db.vehicles import copy_telemetry


class TelemetryWriter:
    def __init__(self, pool: asyncpg.Pool, max_delay: float = 0.01, max_rows: int = 20_000):
        self.pool = pool
        self.max_delay = max_delay
        self.max_rows = max_rows
        self.rows_written = 0
        self._pending: list[tuple] = []
        self._pending_alerts: list[VehicleAlertEvent] = []
        self._waiters: list[asyncio.Future] = []
        self._flusher: asyncio.Task | None = None

    async def write(self, rows: list[tuple], alerts: list[VehicleAlertEvent] = ()) -> None:
        """Queue rows and alert events; return once they are committed (raises if that failed)."""
        if not rows and not alerts:
            return
        future = asyncio.get_running_loop().create_future()
        self._pending.extend(rows)
        self._pending_alerts.extend(alerts)
        self._waiters.append(future)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.ensure_future(self._flush_soon())
        await future

    async def _flush_soon(self) -> None:
        while self._waiters:
            if len(self._pending) < self.max_rows:
                await asyncio.sleep(self.max_delay)  # let concurrent writers join this COPY
            rows, self._pending = self._pending, []
            alerts, self._pending_alerts = self._pending_alerts, []
            waiters, self._waiters = self._waiters, []
            try:
                async with self.pool.acquire() as conn, conn.transaction():
                    if rows:
                        await copy_telemetry(conn, rows)
                    await record_alert_events(conn, alerts)
            except Exception as exc:
                for w in waiters:
                    if not w.done():
                        w.set_exception(exc)
                continue
            self.rows_written += len(rows)
            for w in waiters:
                if not w.done():
                    w.set_result(None)
