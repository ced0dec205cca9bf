"""The API's feature-flag cache (serve_apps/feature_flags.py): requests that find a flag's
percentage old at the same moment share one read, and a fresh one is read no more."""

import asyncio

from serve_apps.feature_flags import FeatureFlagCache


class SlowFlagTable:
    """Stands in for the pool: answers the flag query after a moment, counting the queries."""

    def __init__(self, percentage: int):
        self.percentage = percentage
        self.queries = 0

    async def fetchval(self, query: str, flag: str) -> int:
        self.queries += 1
        await asyncio.sleep(0.01)
        return self.percentage


async def test_requests_that_find_the_flag_old_together_share_one_read():
    table = SlowFlagTable(100)
    cache = FeatureFlagCache(table, ttl_seconds=60)
    assert all(await asyncio.gather(*(cache.enabled_for("f", f"user-{i}") for i in range(100))))
    assert table.queries == 1


async def test_a_percentage_older_than_the_ttl_is_read_again():
    table = SlowFlagTable(0)
    cache = FeatureFlagCache(table, ttl_seconds=0.02)
    assert await cache.percentage("f") == 0
    table.percentage = 50
    assert await cache.percentage("f") == 0  # still fresh
    await asyncio.sleep(0.03)
    assert await cache.percentage("f") == 50 and table.queries == 2
