"""The demo fleet of the stack: ELM327-emulator processes replaying simulated trips, read by
python-obd in a bridge actor, delivered to vehicle actors and stored in PostgreSQL, visible
through the API to tenant demo only."""

import numpy as np
import pytest

from device_bridge.trip_replay import ENCODINGS

from tests.helpers import wait_until

pytestmark = pytest.mark.integration


async def test_emulated_adapters_feed_live_state_and_history(stack, make_client, pool):
    demo = make_client("viewer", tenant="demo")

    async def live_rpm():
        response = await demo.get("/v1/vehicles/demo-1")
        body = response.json() if response.status_code == 200 else {}
        return body if body.get("connection") == "connected" and "RPM" in body.get("readings", {}) else None

    vehicle = await wait_until(live_rpm, timeout=60, interval=0.5)
    assert vehicle["readings"]["RPM"]["unit"] == "revolutions_per_minute"
    assert vehicle["readings"]["SPEED"]["unit"] == "kilometer_per_hour"
    assert vehicle["vin"], "the VIN the adapter reported is recorded"
    stored = await wait_until(lambda: pool.fetchval(
        "SELECT count(DISTINCT pid) FROM telemetry WHERE vehicle_id = 'demo-1'"), timeout=30)
    assert stored >= 4
    listed = {v["vehicle_id"]: v for v in (await demo.get("/v1/vehicles")).json()}
    assert {"demo-1", "demo-2"} <= set(listed)
    assert (await make_client("outsider", tenant="default").get("/v1/vehicles/demo-1")).status_code == 404


async def test_demo_vehicles_get_brake_pads_as_they_join(stack, pool):
    """So that the brakes model has a distance since a pad change to work from."""
    changed = await pool.fetch("SELECT vehicle_id FROM brake_pad_changes WHERE vehicle_id LIKE 'demo-%'")
    assert sorted(r["vehicle_id"] for r in changed) == [f"demo-{i}" for i in range(1, stack.settings.demo_fleet + 1)]


async def test_demo_vehicles_drive_their_simulated_trips(stack, pool):
    """Nearly every stored RPM reading of demo-1 is a value of its replayed vehicle's trips (as
    the ECU encodes it), not the emulator's stock answers."""
    replay = stack.trip_replay
    adapter, story = replay.plays[0]
    _, scale, _ = ENCODINGS["RPM"]
    played = replay.fleet.signals["RPM"][story.vehicle]
    replayed = set(np.round(played[np.isfinite(played)] * scale).astype(int).tolist())
    stored = await wait_until(lambda: pool.fetch(
        "SELECT value FROM telemetry WHERE vehicle_id = 'demo-1' AND pid = 'RPM'"), timeout=30)
    from_replay = [round(r["value"] * scale) in replayed for r in stored]
    assert sum(from_replay) >= 0.9 * len(from_replay), f"{sum(from_replay)} of {len(from_replay)}"


async def test_the_engine_model_predicts_from_an_emulated_adapters_live_window(stack, served_models, make_client):
    """ELM327 emulator -> python-obd bridge -> vehicle actor -> window from PostgreSQL -> served model."""
    demo = make_client("viewer", tenant="demo")

    async def engine_prediction():
        body = (await demo.get("/v1/vehicles/demo-2/predictions")).json()
        return body if "outputs" in body["predictions"]["engine"] else None

    body = await wait_until(engine_prediction, timeout=60, interval=1.0)
    engine = body["predictions"]["engine"]
    assert 0.0 <= engine["outputs"]["fails_soon"] <= 1.0
    assert engine["version"] == served_models["engine"] and engine["window"]["samples"] == 124
