"""TenantEntity (actors/entity_runtime.py): another tenant's entity answers NOT_FOUND, as a missing
one would, before any handler runs; only the commands that create the entity run for anyone."""

from actors.entity_runtime import TenantEntity


class Door(TenantEntity):
    open_commands = frozenset({"install"})
    not_found = "Door not found"

    def __init__(self, tenant_id: str | None):
        self.tenant_id = tenant_id
        self.handled: list[str] = []

    def owner(self) -> str | None:
        return self.tenant_id

    async def on_open(self, tenant_id: str) -> dict:
        self.handled.append("open")
        return {"opened": True}

    async def on_install(self, tenant_id: str) -> dict:
        self.handled.append("install")
        self.tenant_id = tenant_id
        return {"installed": True}


async def test_the_owner_reaches_the_handler():
    door = Door("acme")
    assert await door.handle("open", {"tenant_id": "acme"}) == {"opened": True}


async def test_another_tenant_is_told_not_found_and_nothing_runs():
    door = Door("acme")
    assert await door.handle("open", {"tenant_id": "other"}) == {"error": "NOT_FOUND", "message": "Door not found"}
    assert door.handled == []


async def test_an_entity_that_does_not_exist_is_not_found():
    assert (await Door(None).handle("open", {"tenant_id": "acme"}))["error"] == "NOT_FOUND"


async def test_an_open_command_runs_for_anyone():
    door = Door(None)
    assert await door.handle("install", {"tenant_id": "acme"}) == {"installed": True}
    assert await door.handle("open", {"tenant_id": "acme"}) == {"opened": True}
