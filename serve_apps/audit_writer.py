"""Writes audit records in the background so the audit log never delays a response."""

from __future__ import annotations

import asyncio
import logging

import asyncpg

from db.audit import AuditRecord, insert_audit_records
from db.errors import DATABASE_UNAVAILABLE

log = logging.getLogger(__name__)


class AuditWriter:
    """Queue records; one task flushes them in batches. While the database is unavailable the
    batch is kept and retried, so an outage delays audit rows but does not drop them. A batch
    the database refuses for its content is written again record by record: the one record it
    refuses is logged and dropped, and no later record waits behind it."""

    def __init__(self, pool: asyncpg.Pool, max_batch: int = 500, max_queue: int = 100_000):
        self.pool = pool
        self.max_batch = max_batch
        self.queue: asyncio.Queue[AuditRecord] = asyncio.Queue(max_queue)
        self.dropped = 0
        self.refused = 0
        self._task: asyncio.Task | None = None

    def record(self, record: AuditRecord) -> None:
        if self._task is None:
            self._task = asyncio.ensure_future(self._flush_forever())
        try:
            self.queue.put_nowait(record)
        except asyncio.QueueFull:
            self.dropped += 1
            log.error("audit queue full; record dropped: %s", record)

    async def _flush_forever(self) -> None:
        while True:
            batch = [await self.queue.get()]
            while len(batch) < self.max_batch and not self.queue.empty():
                batch.append(self.queue.get_nowait())
            try:
                await self._write(batch)
            except Exception:
                for record in batch:
                    try:
                        await self._write([record])
                    except Exception as exc:
                        self.refused += 1
                        log.error("audit record refused by the database, dropped: %s (%r)", record, exc)

    async def _write(self, records: list[AuditRecord]) -> None:
        """Insert `records`, waiting out database outages; raises what the database refuses."""
        while True:
            try:
                await insert_audit_records(self.pool, records)
                return
            except DATABASE_UNAVAILABLE as exc:
                log.warning("audit write failed, retrying: %r", exc)
                await asyncio.sleep(1)

    async def drain(self, timeout: float = 5.0) -> None:
        """Wait until queued records are written (used at shutdown and by tests)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while not self.queue.empty() and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
