"""DeviceBridge.deliver: a batch a vehicle could not store (its database or shard failing) is
sent again until it is stored; one the vehicle refused for its content is not. The shard router
under the vehicle client is a scripted stand-in here; tests/integration/test_demo_fleet.py runs the bridge on the real stack."""

from datetime import datetime, timezone

from actors.vehicle import VehicleClient
from db.readings import Reading
from device_bridge.bridge import DeviceBridge

NOW = datetime(2026, 12, 1, tzinfo=timezone.utc)


class ScriptedRouter:
    """Answers each deliver() with the next scripted refusals, recording what it was sent."""

    def __init__(self, *refusals: dict[str, str]):
        self.refusals = list(refusals)
        self.sent: list[set[str]] = []

    async def deliver(self, command, payloads):
        self.sent.append(set(payloads))
        return self.refusals.pop(0) if self.refusals else {}


def readings(*vehicle_ids):
    return [Reading(v, "RPM", 900.0, "revolutions_per_minute", NOW) for v in vehicle_ids]


async def test_a_batch_the_vehicle_could_not_store_is_sent_again():
    router = ScriptedRouter({"v1": "EntityCallFailed: ConnectionDoesNotExistError: connection was closed"})
    bridge = DeviceBridge(VehicleClient(router), "t", [])
    await bridge.deliver(readings("v1", "v2"), [])
    assert router.sent == [{"v1", "v2"}, {"v1"}]
    assert (bridge.retried, bridge.delivered) == (1, 2)


async def test_a_batch_the_vehicle_refused_is_not_sent_again():
    router = ScriptedRouter({"v1": "INVALID_REQUEST: readings[0].captured_at: more than 300 s ahead",
                             "v2": "NOT_FOUND: Vehicle not found"})
    bridge = DeviceBridge(VehicleClient(router), "t", [])
    await bridge.deliver(readings("v1", "v2"), [])
    assert router.sent == [{"v1", "v2"}]
    assert bridge.retried == 0
