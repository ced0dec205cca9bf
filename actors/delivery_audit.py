"""The delivery audit: every few seconds, for each reader of an outbox's topic (each booking
consumer group, and the fleet alert feed for vehicle alerts), the events published more than a
grace period ago that the reader has not applied (db/delivery_audit.py). When the reader has
read everything the broker holds (its lag is 0), such events were lost between the broker's
acknowledgement and the reader, and the audit hands them back to the relays, which publish them
again with their own event ids. A reader that lags or is down is left to catch up: its
unapplied events are reported (metrics, `fleetray status`), not sent twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import asyncpg
import ray

from actors import metrics
from actors.background import BackgroundLoopActor
from actors.consumers import CONSUMER_EFFECTS, group_lag
from actors.fleet_alert_feed import FEED_READER
from actors.topology import FLEET_ALERT_FEED, actor
from db.delivery_audit import Unapplied, republish, unapplied_events
from db.outbox import BOOKING_OUTBOX, VEHICLE_ALERT_OUTBOX, OutboxTable
from db.pool import create_pool

log = logging.getLogger(__name__)

AUDIT_SECONDS = 5.0
# reader -> the outbox whose topic it reads
AUDITED: dict[str, OutboxTable] = {**dict.fromkeys(CONSUMER_EFFECTS, BOOKING_OUTBOX),
                                   FEED_READER: VEHICLE_ALERT_OUTBOX}
# How many records of its topic a reader has not read yet (None: unknown, e.g. not connected).
Lag = Callable[[str], Awaitable[int | None]]


class DeliveryAudit:
    """One audit round per call of audit(); what it saw is kept for stats()."""

    def __init__(self, pool: asyncpg.Pool, lag: Lag, grace_seconds: float):
        self.pool = pool
        self.lag = lag
        self.grace_seconds = grace_seconds
        self._found: dict[str, Unapplied | None] = dict.fromkeys(AUDITED)  # each reader's last round
        self.republished: Counter[str] = Counter()

    def _since(self, reader: str) -> datetime | None:
        """Where the reader's next round starts: the oldest event it had not applied, or the
        horizon (now - grace) when it had applied all; None before the first round (every row)."""
        last = self._found[reader]
        return None if last is None else last.oldest_published_at or last.horizon

    async def audit(self) -> None:
        for reader, table in AUDITED.items():
            found = self._found[reader] = await unapplied_events(
                self.pool, table, reader, self.grace_seconds, self._since(reader))
            tags, table_metrics = {"group": reader}, metrics.DELIVERY_AUDIT_METRICS[table.name]
            table_metrics.unapplied.set(len(found.row_ids), tags=tags)
            table_metrics.oldest_unapplied_seconds.set(found.oldest_age_seconds, tags=tags)
            if found.row_ids and await self.lag(reader) == 0:
                async with self.pool.acquire() as conn:
                    again = await republish(conn, table, found.row_ids)
                if again:
                    self.republished[reader] += again
                    table_metrics.republished.inc(again, tags=tags)
                    log.warning("republished %d event(s) %s had not applied %.0f s after publishing",
                                again, reader, self.grace_seconds)

    def stats(self) -> dict[str, Any]:
        def of(reader: str) -> dict[str, Any]:
            found = self._found[reader]
            return {"unapplied": 0 if found is None else len(found.row_ids),
                    "oldest_unapplied_seconds": 0.0 if found is None else round(found.oldest_age_seconds, 1),
                    "republished": self.republished[reader]}
        return {reader: of(reader) for reader in AUDITED}


def broker_lag(bootstrap_servers: str) -> Lag:
    """The lag of a booking consumer group from the broker's committed offsets; the fleet alert
    feed, which commits none, says its own."""
    async def lag(reader: str) -> int | None:
        if reader == FEED_READER:
            return await actor(FLEET_ALERT_FEED).lag.remote()
        return await group_lag(bootstrap_servers, reader)
    return lag


@ray.remote(max_restarts=-1)
class DeliveryAuditActor(BackgroundLoopActor):
    def __init__(self, database_url: str, bootstrap_servers: str, grace_seconds: float):
        self.database_url = database_url
        self.bootstrap_servers = bootstrap_servers
        self.grace_seconds = grace_seconds
        self._audit: DeliveryAudit | None = None
        self.start_when_constructed()

    async def loop(self) -> None:
        pool = await create_pool(self.database_url, min_size=1, max_size=2)
        self._audit = DeliveryAudit(pool, broker_lag(self.bootstrap_servers), self.grace_seconds)
        while True:
            try:
                await self._audit.audit()
            except Exception:  # the database or the broker down: the next round tries again
                log.warning("delivery audit round failed", exc_info=True)
            await asyncio.sleep(AUDIT_SECONDS)

    async def stats(self) -> dict[str, Any]:
        return {"groups": self._audit.stats() if self._audit else {}, "running": self.running}
