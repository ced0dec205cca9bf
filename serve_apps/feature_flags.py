"""Feature-flag reads for the API, cached briefly so a flag check costs no query per request."""

from __future__ import annotations

import time

import asyncpg

from db.flags import get_flag_percentage, in_rollout


class FeatureFlagCache:
    def __init__(self, pool: asyncpg.Pool, ttl_seconds: float = 1.0):
        self.pool = pool
        self.ttl_seconds = ttl_seconds
        self._cached: dict[str, tuple[float, int]] = {}

    async def percentage(self, flag: str) -> int:
        now = time.monotonic()
        hit = self._cached.get(flag)
        if hit is None or now - hit[0] > self.ttl_seconds:
            hit = (now, await get_flag_percentage(self.pool, flag))
            self._cached[flag] = hit
        return hit[1]

    async def enabled_for(self, flag: str, user_id: str) -> bool:
        return in_rollout(flag, user_id, await self.percentage(flag))
