"""The vehicle entity against a real PostgreSQL: live state, telemetry persisted before the
batch is acknowledged, trouble-code history, alerts, and re-activation from the database."""

import uuid
from datetime import datetime, timedelta, timezone

import pytest

from actors.vehicle import VehicleKind

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 23, 12, tzinfo=timezone.utc)


async def registered(vehicle_kind, tenant="fleet-a"):
    vehicle_id = f"veh-{uuid.uuid4().hex[:8]}"
    entity = await vehicle_kind.activate(vehicle_id)
    reply = await entity.handle("register", {"tenant_id": tenant, "name": "Van 7", "vin": None,
                                             "adapter": {"port": "/dev/rfcomm0"}})
    assert reply["vehicle"]["vehicle_id"] == vehicle_id
    return entity


def t(seconds):
    return T0 + timedelta(seconds=seconds)


async def test_ingest_updates_live_state_and_persists_before_acknowledging(vehicle_kind, pool):
    entity = await registered(vehicle_kind)
    readings = [("RPM", 800.0 + i, "revolutions_per_minute", t(i)) for i in range(5)] + [
        ("COOLANT_TEMP", 90.0, "degree_Celsius", t(1))]
    reply = await entity.handle("ingest", {"tenant_id": "fleet-a", "readings": readings})
    assert reply == {"accepted": 6, "alerts": []}
    stored = await pool.fetchval("SELECT count(*) FROM telemetry WHERE vehicle_id = $1", entity.vehicle_id)
    assert stored == 6
    view = (await entity.handle("get", {"tenant_id": "fleet-a"}))["vehicle"]
    rpm = view["readings"]["RPM"]
    assert (rpm["value"], rpm["unit"], rpm["captured_at"]) == (804.0, "revolutions_per_minute", t(4))
    assert rpm["stats"] == {"count": 5, "mean": 802.0, "min": 800.0, "max": 804.0}
    assert view["last_seen"] == t(4) and view["health_score"] == 100
    assert view["connection"] == "connected", "data flowing means the adapter is online"


async def test_other_tenants_see_nothing_and_write_nothing(vehicle_kind, pool):
    entity = await registered(vehicle_kind, tenant="fleet-a")
    assert (await entity.handle("get", {"tenant_id": "fleet-b"}))["error"] == "NOT_FOUND"
    reply = await entity.handle("ingest", {"tenant_id": "fleet-b", "readings": [("RPM", 1.0, None, t(0))]})
    assert reply["error"] == "NOT_FOUND"
    assert await pool.fetchval("SELECT count(*) FROM telemetry WHERE vehicle_id = $1", entity.vehicle_id) == 0


async def test_trouble_codes_raise_alerts_keep_history_and_survive_reactivation(vehicle_kind, pool):
    entity = await registered(vehicle_kind)
    misfire = {"P0301": "Cylinder 1 Misfire Detected"}
    reply = await entity.handle("ingest", {"tenant_id": "fleet-a", "readings": [
        ("COOLANT_TEMP", 115.0, "degree_Celsius", t(0))], "reports": [(misfire, t(0))]})
    assert sorted(a["key"] for a in reply["alerts"]) == ["coolant_high", "dtc:P0301"]
    await entity.handle("ingest", {"tenant_id": "fleet-a", "readings": [], "reports": [(misfire, t(10))]})

    again = await vehicle_kind.activate(entity.vehicle_id)  # e.g. after passivation or a shard restart
    view = (await again.handle("get", {"tenant_id": "fleet-a"}))["vehicle"]
    assert view["trouble_codes"] == [{"code": "P0301", "description": "Cylinder 1 Misfire Detected"}]
    assert view["readings"]["COOLANT_TEMP"]["value"] == 115.0
    assert view["health_score"] == 65  # the code (-15) and the still-open coolant alert (-20)

    reply = await again.handle("ingest", {"tenant_id": "fleet-a", "readings": [], "reports": [({}, t(20))]})
    assert [(a["change"], a["key"]) for a in reply["alerts"]] == [("cleared", "dtc:P0301")]
    [row] = await pool.fetch("SELECT first_seen, last_seen, cleared_at FROM dtc_history WHERE vehicle_id = $1",
                             entity.vehicle_id)
    assert (row["first_seen"], row["last_seen"], row["cleared_at"]) == (t(0), t(10), t(20))


async def test_registering_twice_is_a_conflict(vehicle_kind):
    entity = await registered(vehicle_kind)
    again = await vehicle_kind.activate(entity.vehicle_id)
    reply = await again.handle("register", {"tenant_id": "fleet-a", "name": "x", "vin": None, "adapter": {}})
    assert reply["error"] == "CONFLICT"


async def test_another_tenant_registering_the_id_finds_nothing(vehicle_kind):
    entity = await registered(vehicle_kind)
    other = await vehicle_kind.activate(entity.vehicle_id)
    reply = await other.handle("register", {"tenant_id": "fleet-b", "name": "x", "vin": None, "adapter": {}})
    assert reply["error"] == "NOT_FOUND"


async def test_alert_rules_are_configurable(database_url):
    strict = VehicleKind()
    await strict.open({"database_url": database_url, "alert_rules": {"coolant_max_c": 100.0}})
    try:
        entity = await registered(strict)
        reply = await entity.handle("ingest", {"tenant_id": "fleet-a", "readings": [
            ("COOLANT_TEMP", 104.0, "degree_Celsius", t(0))]})
        assert [(a["change"], a["key"]) for a in reply["alerts"]] == [("raised", "coolant_high")]
    finally:
        await strict.close()


async def test_deliver_reaches_many_vehicles_through_the_shards_and_reports_only_failures(stack, pool):
    """VehicleClient.ingest_many (the bridge's path): one Ray call per shard; refusals and errors
    come back by vehicle, accepted batches are persisted."""
    from actors.topology import vehicle_router
    from actors.vehicle import VehicleClient
    from device_bridge.registration import ensure_vehicle

    client = VehicleClient(vehicle_router())
    vehicles = [f"veh-{uuid.uuid4().hex[:8]}" for _ in range(6)]
    for vehicle_id in vehicles:
        await ensure_vehicle(client, vehicle_id, "fleet-d", "Van", {"port": "/dev/null"})
    unknown, malformed = f"veh-{uuid.uuid4().hex[:8]}", vehicles[0]
    batches = {v: {"readings": [("RPM", 900.0, "revolutions_per_minute", t(1))]} for v in vehicles[1:] + [unknown]}
    batches[malformed] = {"readings": [("RPM",)]}
    failed = await client.ingest_many("fleet-d", batches)
    assert set(failed) == {unknown, malformed}
    assert failed[unknown].startswith("NOT_FOUND") and failed[malformed].startswith("ValueError"), failed
    stored = await pool.fetch("SELECT vehicle_id FROM telemetry WHERE vehicle_id = ANY($1)", vehicles)
    assert sorted(r["vehicle_id"] for r in stored) == sorted(vehicles[1:])


async def test_the_vehicle_row_keeps_the_connection_and_health_search_counts(vehicle_kind, pool):
    entity = await registered(vehicle_kind)

    async def standing():
        row = await pool.fetchrow("SELECT connection, health_score FROM vehicles WHERE id = $1", entity.vehicle_id)
        return row["connection"], row["health_score"]
    assert await standing() == ("unknown", 100)
    await entity.handle("ingest", {"tenant_id": "fleet-a", "readings": [("RPM", 800.0, None, t(0))],
                                   "reports": [({"P0301": "Cylinder 1 Misfire Detected"}, t(0))]})
    assert await standing() == ("connected", 85)
    await entity.handle("set_connection", {"tenant_id": "fleet-a", "status": "disconnected"})
    assert await standing() == ("disconnected", 85)
    again = await vehicle_kind.activate(entity.vehicle_id)  # a new activation knows no connection yet
    await again.handle("ingest", {"tenant_id": "fleet-a", "readings": [], "reports": [({}, t(10))]})
    assert await standing() == ("unknown", 100)
