"""The API's view of which model versions serve: refreshed once per TTL, and kept while the
database cannot be read; a version the replicas cannot load is unavailable with the reason
(fake registries and deployment handles stand in for PostgreSQL and Serve here)."""

import pytest

from db.errors import DomainError
from ml.model_client import ModelCatalog, ModelClient
from ml.registry import IncompatibleArtifact, ServedModel, ServedVersion


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



class UnloadableDeployment:
    """A model deployment whose replicas refuse the serving version (as train.load refuses an
    artifact of an older input layout)."""

    def options(self, **_):
        return self

    @property
    def predict(self):
        return self

    async def remote(self, rows):
        raise IncompatibleArtifact("a engine model for inputs RPM; this release's takes RPM, RPM@-7d")


class EngineRegistry:
    async def served(self):
        spec = {"channels": ["RPM"], "window": 2}
        return {"engine": ServedModel("engine", ServedVersion(3, "stable", spec, {}), None, 0)}


async def test_a_stable_version_the_replicas_cannot_load_is_unavailable_with_the_reason():
    client = ModelClient(ModelCatalog(EngineRegistry()), {"engine": UnloadableDeployment()})
    with pytest.raises(DomainError) as raised:
        await client.predict("engine", [{"RPM": [800, 900]}])
    assert raised.value.code == "UNAVAILABLE"
    assert "engine v3 cannot be loaded: a engine model for inputs RPM;" in raised.value.message
