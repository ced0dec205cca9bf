"""Group commit of telemetry: rows from many vehicle entities of one shard go to PostgreSQL in
one COPY; each writer waits until its rows are committed, so an acknowledged batch is durable
while the database sees a few large writes instead of many small ones."""

from __future__ import annotations

import asyncio

import asyncpg

from db.vehicles import copy_telemetry


class TelemetryWriter:
    def __init__(self, pool: asyncpg.Pool, max_delay: float = 0.01, max_rows: int = 20_000):
        self.pool = pool
        self.max_delay = max_delay
        self.max_rows = max_rows
        self.rows_written = 0
        self._pending: list[tuple] = []
        self._waiters: list[asyncio.Future] = []
        self._flusher: asyncio.Task | None = None

    async def write(self, rows: list[tuple]) -> None:
        """Queue rows and return once they are committed (raises if the COPY failed)."""
        if not rows:
            return
        future = asyncio.get_running_loop().create_future()
        self._pending.extend(rows)
        self._waiters.append(future)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.ensure_future(self._flush_soon())
        await future

    async def _flush_soon(self) -> None:
        while self._pending:
            if len(self._pending) < self.max_rows:
                await asyncio.sleep(self.max_delay)  # let concurrent writers join this COPY
            rows, self._pending = self._pending, []
            waiters, self._waiters = self._waiters, []
            try:
                async with self.pool.acquire() as conn:
                    await copy_telemetry(conn, rows)
            except Exception as exc:
                for w in waiters:
                    if not w.done():
                        w.set_exception(exc)
                continue
            self.rows_written += len(rows)
            for w in waiters:
                if not w.done():
                    w.set_result(None)
