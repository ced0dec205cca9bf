"""The delivery audit: every few seconds, for each booking consumer group, the events published
more than a grace period ago that the group has not applied (db/delivery_audit.py). When the
group has read everything the broker holds (its lag is 0), such events were lost between the
broker's acknowledgement and the group, and the audit hands them back to the relays, which
publish them again with their own event ids. A group that lags or is down is left to catch up:
its unapplied events are reported (metrics, `fleetray status`), not sent twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from datetime import datetime
from typing import Any

import asyncpg
import ray

from actors import metrics
from actors.background import BackgroundLoopActor
from actors.consumers import CONSUMER_EFFECTS, group_lag
from db.delivery_audit import Unapplied, republish, unapplied_events
from db.pool import create_pool

log = logging.getLogger(__name__)

AUDIT_SECONDS = 5.0


class DeliveryAudit:
    """One audit round per call of audit(); what it saw is kept for stats()."""

    def __init__(self, pool: asyncpg.Pool, bootstrap_servers: str, grace_seconds: float):
        self.pool = pool
        self.bootstrap_servers = bootstrap_servers
        self.grace_seconds = grace_seconds
        self._found: dict[str, Unapplied | None] = dict.fromkeys(CONSUMER_EFFECTS)  # each group's last round
        self.republished: Counter[str] = Counter()

    def _since(self, group: str) -> datetime | None:
        """Where the group's next round starts: the oldest event it had not applied, or the
        horizon (now - grace) when it had applied all; None before the first round (every row)."""
        last = self._found[group]
        return None if last is None else last.oldest_published_at or last.horizon

    async def audit(self) -> None:
        for group in CONSUMER_EFFECTS:
            found = self._found[group] = await unapplied_events(
                self.pool, group, self.grace_seconds, self._since(group))
            tags = {"group": group}
            metrics.UNAPPLIED_EVENTS.set(len(found.row_ids), tags=tags)
            metrics.OLDEST_UNAPPLIED_SECONDS.set(found.oldest_age_seconds, tags=tags)
            if found.row_ids and await group_lag(self.bootstrap_servers, group) == 0:
                async with self.pool.acquire() as conn:
                    again = await republish(conn, found.row_ids)
                if again:
                    self.republished[group] += again
                    metrics.EVENTS_REPUBLISHED.inc(again, tags=tags)
                    log.warning("republished %d event(s) %s had not applied %.0f s after publishing",
                                again, group, self.grace_seconds)

    def stats(self) -> dict[str, Any]:
        def of(group: str) -> dict[str, Any]:
            found = self._found[group]
            return {"unapplied": 0 if found is None else len(found.row_ids),
                    "oldest_unapplied_seconds": 0.0 if found is None else round(found.oldest_age_seconds, 1),
                    "republished": self.republished[group]}
        return {group: of(group) for group in CONSUMER_EFFECTS}

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
        self._audit = DeliveryAudit(pool, self.bootstrap_servers, self.grace_seconds)
        while True:
            try:
                await self._audit.audit()
            except Exception:  # the database or the broker down: the next round tries again
                log.warning("delivery audit round failed", exc_info=True)
            await asyncio.sleep(AUDIT_SECONDS)

    async def stats(self) -> dict[str, Any]:
        return {"groups": self._audit.stats() if self._audit else {}, "running": self.running}
