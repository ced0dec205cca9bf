"""The API's view of which model versions serve: refreshed once per TTL, and kept while the
database cannot be read (a fake registry stands in for PostgreSQL here)."""

import pytest

from ml.registry import ServedModel, ServedVersion
from serve_apps.model_client import ModelCatalog


class FlakyRegistry:
    def __init__(self):
        self.reads = 0
        self.down = False
        self.version = 1

    async def served(self):
        self.reads += 1
        if self.down:
            raise ConnectionRefusedError("database restarting")
        return {"battery": ServedModel("battery", ServedVersion(self.version, "stable", {}, {}), None, 0)}


async def test_reads_once_per_ttl_and_keeps_the_last_versions_while_the_database_is_down():
    registry = FlakyRegistry()
    catalog = ModelCatalog(registry, ttl_seconds=0.0)
    assert (await catalog.served())["battery"].stable.version == 1
    registry.down, registry.version = True, 2
    assert (await catalog.served())["battery"].stable.version == 1, "stale beats failing"
    registry.down = False
    assert (await catalog.served())["battery"].stable.version == 2
    cached = ModelCatalog(registry, ttl_seconds=60.0)
    await cached.served()
    await cached.served()
    assert registry.reads == 4, "the second read within the TTL is served from memory"


async def test_a_database_down_from_the_start_is_an_error():
    registry = FlakyRegistry()
    registry.down = True
    with pytest.raises(ConnectionRefusedError):
        await ModelCatalog(registry).served()
