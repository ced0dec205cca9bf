"""`fleetray bridge` against the running test stack: an adapters file pointing at a real
ELM327-emulator registers its vehicle, starts a named bridge actor whose readings reach the
vehicle, is replaced when attached again, resumes after Ray restarts it, and is removed when
detached."""

import json

import pytest
import ray

from actors.topology import RAY_NAMESPACE
from device_bridge.attach import attach, detach
from device_bridge.config import load_config
from device_bridge.registration import VehicleOfAnotherTenant
from tests.helpers import unique, wait_until

pytestmark = pytest.mark.integration


def adapters_file(tmp_path, stem, vehicle_id, tenant, port):
    path = tmp_path / f"{stem}.yaml"
    path.write_text(json.dumps({"adapters": [{"vehicle_id": vehicle_id, "tenant_id": tenant, "port": port,
                                              "name": "Bench car", "fast_hz": 5, "dtc_seconds": 2}]}))
    return load_config(path)


async def test_attached_adapter_feeds_its_vehicle_until_detached(stack, adapter, make_client, tmp_path):
    stem, vehicle_id = unique("bench"), unique("car")
    config = adapters_file(tmp_path, stem, vehicle_id, "fleet-bridge", adapter.port)
    bridges, registered = await attach(config, stem)
    assert [(b.name, b.tenant_id, b.vehicle_ids) for b in bridges] == [
        (f"device-bridge-{stem}-1", "fleet-bridge", [vehicle_id])]
    assert registered == [vehicle_id]

    owner = make_client("viewer", tenant="fleet-bridge")

    async def live(min_rpm_count=1):
        body = (await owner.get(f"/v1/vehicles/{vehicle_id}")).json()
        rpm = body.get("readings", {}).get("RPM", {})
        return body if body.get("connection") == "connected" and rpm.get("stats", {}).get("count", 0) >= min_rpm_count else None

    vehicle = await wait_until(live, timeout=60, interval=0.5)
    assert vehicle["name"] == "Bench car" and vehicle["vin"], "registered with its name; the adapter's VIN recorded"
    assert vehicle["readings"]["RPM"]["unit"] == "revolutions_per_minute"
    stats = await wait_until(lambda: _delivered(bridges[0]), timeout=30)
    assert stats["adapters"] == {vehicle_id: "connected"}

    old_actor_id = bridges[0].actor._actor_id
    again, registered = await attach(config, stem)  # e.g. after editing the file
    assert registered == [] and [b.name for b in again] == [bridges[0].name]
    assert again[0].actor._actor_id != old_actor_id, "the old bridge was replaced, not reused"
    crashed = await wait_until(lambda: _delivered(again[0]), timeout=60)

    ray.kill(again[0].actor, no_restart=False)  # a crash: Ray restarts the process, whose constructor resumes reading
    await wait_until(lambda: _delivered(again[0], other_than=crashed["pid"]), timeout=60)  # resumed

    assert await detach(stem) == [bridges[0].name]
    with pytest.raises(ValueError):
        ray.get_actor(bridges[0].name, namespace=RAY_NAMESPACE)
    assert (await owner.get(f"/v1/vehicles/{vehicle_id}")).json()["connection"] == "disconnected"

    stolen = adapters_file(tmp_path, unique("thief"), vehicle_id, "fleet-other", adapter.port)
    with pytest.raises(VehicleOfAnotherTenant):
        await attach(stolen, "thief")


async def _delivered(bridge, other_than: int | None = None):
    """The bridge's stats once it delivered readings (from a process other than `other_than`)."""
    try:
        stats = await bridge.actor.stats.remote()
    except ray.exceptions.ActorUnavailableError:  # while Ray restarts it
        return None
    return stats if stats["delivered"] > 0 and stats["pid"] != other_than else None
