"""The API's view of which model versions serve: refreshed once per TTL, and kept while the
database cannot be read; live inputs fitted to the version that serves (fake registries and
deployment handles stand in for PostgreSQL and Serve here)."""

import pytest

from ml.registry import ServedModel, ServedVersion
from serve_apps.errors import ApiError
from serve_apps.model_client import ModelCatalog, ModelClient


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


class ChannelCounter:
    """A model deployment handle that answers with how many channels it was sent."""

    def options(self, **_):
        return self

    @property
    def predict(self):
        return self

    async def remote(self, rows):
        return {"fails_soon": [float(rows.shape[1])] * len(rows)}


class OldEngineRegistry:
    """An engine version from before the week-earlier trip: today's channels only."""

    async def served(self):
        spec = {"channels": ["RPM", "SPEED"], "window": 2}
        return {"engine": ServedModel("engine", ServedVersion(3, "stable", spec, {}), None, 0)}


async def test_live_inputs_a_serving_version_does_not_take_are_left_out_only_when_asked():
    client = ModelClient(ModelCatalog(OldEngineRegistry()), {"engine": ChannelCounter()})
    live = {"RPM": [800, 900], "SPEED": [0, 5], "RPM@-7d": [None, None], "SPEED@-7d": [None, None]}
    result = await client.predict("engine", [live], drop_unknown=True)
    assert result["version"] == 3 and result["predictions"] == [{"fails_soon": 2.0}]
    with pytest.raises(ApiError, match="unknown RPM@-7d, SPEED@-7d"):
        await client.predict("engine", [live])
