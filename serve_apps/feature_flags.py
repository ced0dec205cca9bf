"""Feature-flag reads for the API, cached briefly so a flag check costs no query per request."""

from __future__ import annotations

import asyncio
import time

import asyncpg

from db.flags import get_flag_percentage, in_rollout


class FeatureFlagCache:
    """Each flag's percentage, read again once `ttl_seconds` old. The requests that find it old
    at the same moment share one read: under load a replica has a hundred requests in flight,
    and each querying for itself cost a query per request every second."""

    def __init__(self, pool: asyncpg.Pool, ttl_seconds: float = 1.0):
        self.pool = pool
        self.ttl_seconds = ttl_seconds
        self._cached: dict[str, tuple[float, int]] = {}
        self._reading: dict[str, asyncio.Future] = {}

    async def percentage(self, flag: str) -> int:
        hit = self._cached.get(flag)
        if hit is not None and time.monotonic() - hit[0] <= self.ttl_seconds:
            return hit[1]
        reading = self._reading.get(flag)
        if reading is None:
            reading = self._reading[flag] = asyncio.ensure_future(self._read(flag))
        return await asyncio.shield(reading)  # a caller that gives up leaves the read to the others

    async def _read(self, flag: str) -> int:
        try:
            percentage = await get_flag_percentage(self.pool, flag)
            self._cached[flag] = (time.monotonic(), percentage)
            return percentage
        finally:
            del self._reading[flag]

    async def enabled_for(self, flag: str, user_id: str) -> bool:
        return in_rollout(flag, user_id, await self.percentage(flag))
