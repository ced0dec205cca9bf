"""GET /v1/vehicles/{id}/predictions and the maintenance sweep on the real stack: simulated
trips are sent as telemetry, each with the vehicle's trips of the days before, the vehicle's
entity reads each day's window back out of PostgreSQL, the served models predict exactly what the trained
models predict on the same trips, and a prediction past the engine model's threshold raises a
maintenance alert (through the alert outbox) that a healthy trip clears. The brakes model gets
the distance since a recorded brake pad change, integrated from the SPEED readings."""

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import httpx
import numpy as np
import pytest
import ray

from actors.topology import MAINTENANCE_SWEEP, RAY_NAMESPACE
from actors.vehicle_rules import AlertRules
from ml import train
from ml.features import ENGINE_HISTORY_DAYS, battery_features, brake_features, engine_histories
from ml.live import LIVE_WINDOWS
from ml.simulator import ENGINE_OFF_SAMPLES, SAMPLE_SECONDS, FleetConfig, simulate
from tests.helpers import metric, token_for, unique, wait_until

pytestmark = pytest.mark.integration
TENANT = "predictions"


@pytest.fixture(scope="module")
def fleet():
    return simulate(FleetConfig(12, 45, climates=("temperate",), duties=("urban",), noise=(0.5, 0.5),
                                engine_fault_share=1.0, seed=4242, id_prefix="trip"))


def trip(fleet, v: int, d: int) -> dict[str, np.ndarray]:
    return {pid: values[v, d][None, :] for pid, values in fleet.signals.items()}


async def send_trip(client, vehicle_id: str, signals: dict[str, np.ndarray], start: datetime) -> None:
    readings = [{"pid": pid, "value": float(value), "captured_at": (start + timedelta(seconds=SAMPLE_SECONDS * s)).isoformat()}
                for pid, values in signals.items() for s, value in enumerate(values[0]) if not np.isnan(value)]
    response = await client.post(f"/v1/vehicles/{vehicle_id}/telemetry", json={"readings": readings})
    assert response.status_code == 202, response.text


async def send_trip_history(client, vehicle_id: str, fleet, v: int, d: int, start: datetime) -> None:
    """The vehicle's trips of the ENGINE_HISTORY_DAYS - 1 days before day d, each that many days
    before `start`, then the trip of day d at `start`."""
    for days_before in range(ENGINE_HISTORY_DAYS - 1, -1, -1):
        await send_trip(client, vehicle_id, trip(fleet, v, d - days_before), start - timedelta(days=days_before))


async def register_vehicle(make_client, prefix: str):
    """A vehicle registered by an operator of TENANT, and a user client of that tenant."""
    vehicle_id = unique(prefix)
    response = await make_client("op", TENANT, role="operator").post(
        "/v1/vehicles", json={"vehicle_id": vehicle_id, "name": prefix.title()})
    assert response.status_code == 201, response.text
    return make_client("ann", TENANT), vehicle_id


@pytest.fixture(scope="module")
async def engine_model(model_registry, served_models, tmp_path_factory):
    model, metadata = train.load(await model_registry.fetch(
        "engine", served_models["engine"], tmp_path_factory.mktemp("engine")))
    return model, metadata["thresholds"]["fails_soon"]


def engine_risk(fleet, model) -> np.ndarray:
    """The trained model's failure probability per (vehicle, day), each with its trip history."""
    return model.predict(engine_histories(fleet.signals))["fails_soon"].reshape(fleet.in_service.shape)


def clean_trips(fleet) -> np.ndarray:
    """(vehicle, day): in service, with key-on, crank and first running RPM samples all there,
    and running RPM never falling to the engine-off level (the engine start the vehicle actor
    detects is then the simulator's)."""
    rpm = fleet.signals["RPM"]
    return fleet.in_service & ~np.isnan(rpm[:, :, :ENGINE_OFF_SAMPLES + 2]).any(axis=2) & ~(
        rpm[:, :, ENGINE_OFF_SAMPLES + 1:] < AlertRules.engine_stopped_rpm).any(axis=2)


def riskiest_and_safest_trips(fleet, model) -> tuple[tuple[int, int], tuple[int, int]]:
    """(vehicle, day) of the clean trips the engine model rates highest and lowest, among those
    with a trip on each of the ENGINE_HISTORY_DAYS - 1 days before."""
    risk = engine_risk(fleet, model)
    candidates = clean_trips(fleet) & (np.arange(fleet.in_service.shape[1]) >= ENGINE_HISTORY_DAYS - 1)
    ranked = [tuple(int(i) for i in np.unravel_index(k, risk.shape)) for k in np.argsort(risk, axis=None)]
    ranked = [vd for vd in ranked if candidates[vd]]
    return ranked[-1], ranked[0]


@dataclass
class RiskyVehicle:
    """A vehicle that drove the engine model's riskiest trip (with its days before), and the
    predictions answered for it once."""

    client: httpx.AsyncClient
    vehicle_id: str
    start: datetime
    body: dict


@pytest.fixture(scope="module")
async def risky(fleet, engine_model, stack, auth_config):
    operator, user = (httpx.AsyncClient(base_url=stack.api_url, timeout=30, headers={
        "Authorization": f"Bearer {token_for(auth_config, who, TENANT, role)}"})
        for who, role in (("op", "operator"), ("ann", "user")))
    vehicle_id = unique("predicted")
    response = await operator.post("/v1/vehicles", json={"vehicle_id": vehicle_id, "name": "Predicted"})
    assert response.status_code == 201, response.text
    start = datetime.now(timezone.utc) - timedelta(hours=1)
    await send_trip_history(user, vehicle_id, fleet, *riskiest_and_safest_trips(fleet, engine_model[0])[0], start)
    response = await user.get(f"/v1/vehicles/{vehicle_id}/predictions")
    assert response.status_code == 200, response.text
    yield RiskyVehicle(user, vehicle_id, start, response.json())
    await operator.aclose()
    await user.aclose()


async def test_the_engine_prediction_is_the_trained_models_on_the_same_trips(risky, fleet, engine_model,
                                                                            served_models):
    model, threshold = engine_model
    engine = risky.body["predictions"]["engine"]
    expected = float(engine_risk(fleet, model)[riskiest_and_safest_trips(fleet, model)[0]])
    assert engine["outputs"]["fails_soon"] == pytest.approx(expected, abs=1e-5)
    assert engine["version"] == served_models["engine"] and engine["thresholds"]["fails_soon"] == threshold


async def test_the_fleet_list_shows_the_latest_engine_failure_risk(risky):
    listed = {v["vehicle_id"]: v for v in (await risky.client.get("/v1/vehicles")).json()}
    assert listed[risky.vehicle_id]["failure_risk"] == risky.body["predictions"]["engine"]["outputs"]["fails_soon"]


async def test_each_earlier_engine_window_is_that_days_running_trip(risky):
    windows = risky.body["predictions"]["engine"]["earlier_windows"]
    assert [w["days_before"] for w in windows] == list(range(1, ENGINE_HISTORY_DAYS))
    assert datetime.fromisoformat(windows[-1]["start"]) == (
        risky.start - timedelta(days=ENGINE_HISTORY_DAYS - 1, seconds=-SAMPLE_SECONDS * (ENGINE_OFF_SAMPLES + 1)))


async def test_the_battery_prediction_is_the_trained_models_from_key_on(risky, fleet, engine_model, model_registry,
                                                                       served_models, tmp_path):
    battery = risky.body["predictions"]["battery"]
    battery_model, _ = train.load(await model_registry.fetch("battery", served_models["battery"], tmp_path / "battery"))
    expected = battery_model.predict(battery_features(trip(fleet, *riskiest_and_safest_trips(fleet, engine_model[0])[0])))
    assert battery["outputs"]["soh"] == pytest.approx(float(expected["soh"][0]), abs=1e-5)
    assert battery["outputs"]["rul_days"] == pytest.approx(float(expected["rul_days"][0]), abs=1e-3)
    assert datetime.fromisoformat(battery["window"]["start"]) == risky.start


async def test_brakes_are_unavailable_before_a_pad_change_is_recorded(risky):
    assert "no brake pad change recorded" in risky.body["predictions"]["brakes"]["unavailable"]


async def test_a_risky_prediction_raises_the_alert_once_and_a_healthy_trip_clears_it(risky, fleet, engine_model,
                                                                                    pool):
    model, threshold = engine_model
    risk = engine_risk(fleet, model)
    risky_trip, safe_trip = riskiest_and_safest_trips(fleet, model)
    assert risk[risky_trip] >= threshold > risk[safe_trip], "the trips chosen are on either side of the threshold"
    assert engine_alerts(risky.body) == [("raised", "maintenance:engine")]
    vehicle = (await risky.client.get(f"/v1/vehicles/{risky.vehicle_id}")).json()
    assert "maintenance:engine" in {a["key"] for a in vehicle["alerts"]}

    again = (await risky.client.get(f"/v1/vehicles/{risky.vehicle_id}/predictions")).json()
    assert engine_alerts(again) == [], "raised once"
    assert again["predictions"]["engine"]["outputs"]["fails_soon"] == pytest.approx(float(risk[risky_trip]), abs=1e-5), \
        "the same from the earlier days' cached summaries"

    await send_trip_history(risky.client, risky.vehicle_id, fleet, *safe_trip, risky.start + timedelta(minutes=10))
    body = (await risky.client.get(f"/v1/vehicles/{risky.vehicle_id}/predictions")).json()
    assert body["predictions"]["engine"]["outputs"]["fails_soon"] == pytest.approx(float(risk[safe_trip]), abs=1e-5)
    assert engine_alerts(body) == [("cleared", "maintenance:engine")]
    assert await maintenance_events(pool, risky.vehicle_id) == ["VehicleAlertRaised", "VehicleAlertCleared"]


def engine_alerts(predictions: dict) -> list[tuple[str, str]]:
    return [(a["change"], a["key"]) for a in predictions["alerts"] if a["key"] == "maintenance:engine"]


async def test_the_entity_leaves_out_the_grids_of_days_the_caller_knows(fleet, stack, make_client):
    """The earlier days whose window end the caller names come back without their grids (it has
    their summaries); the others, and today's, with them."""
    from actors.topology import vehicle_router
    from actors.vehicle import VehicleClient

    client, vehicle_id = await register_vehicle(make_client, "cached")
    v, d = next((v, d) for v, d in zip(*np.nonzero(clean_trips(fleet))) if d >= ENGINE_HISTORY_DAYS - 1)
    await send_trip_history(client, vehicle_id, fleet, v, d, datetime.now(timezone.utc) - timedelta(hours=1))
    vehicles = VehicleClient(vehicle_router())
    first = (await vehicles.window(vehicle_id, tenant_id=TENANT, spec=LIVE_WINDOWS["engine"])).window
    assert all("signals" in day for day in first["history"]) and len(first["history"]) == ENGINE_HISTORY_DAYS - 1
    known = [day["end"] for day in first["history"][::2]]
    second = (await vehicles.window(vehicle_id, tenant_id=TENANT, spec=LIVE_WINDOWS["engine"], known_ends=known)).window
    assert [day["end"] for day in second["history"]] == [day["end"] for day in first["history"]]
    assert [day["end"] for day in second["history"] if "signals" not in day] == known
    assert all(day["signals"] == before["signals"] for day, before in zip(second["history"], first["history"])
               if "signals" in day)
    assert second["signals"] == first["signals"]


async def maintenance_events(pool, vehicle_id: str) -> list[str]:
    events = await pool.fetch(
        """SELECT event_type FROM vehicle_alert_outbox
            WHERE vehicle_id = $1 AND event_payload ->> 'alert_key' = 'maintenance:engine' ORDER BY id""",
        vehicle_id)
    return [e["event_type"] for e in events]


async def test_the_maintenance_sweep_raises_and_clears_alerts_without_anyone_asking(
        fleet, engine_model, served_models, make_client, pool, stack):
    """The stack's sweep actor (its own period is an hour here) predicts the active vehicles
    with new readings: the risky trip raises the alert, the safe trip clears it, and a round
    without new readings changes nothing."""
    sweep = ray.get_actor(MAINTENANCE_SWEEP, namespace=RAY_NAMESPACE)
    model, _ = engine_model
    risky, safe = riskiest_and_safest_trips(fleet, model)
    client, vehicle_id = await register_vehicle(make_client, "swept")

    start = datetime.now(timezone.utc) - timedelta(hours=1)
    await send_trip_history(client, vehicle_id, fleet, *risky, start)
    report = await sweep.sweep.remote()
    assert report["predicted"]["engine"] >= 1 and report["alerts_raised"] >= 1 and report["failed_chunks"] == 0
    vehicle = (await client.get(f"/v1/vehicles/{vehicle_id}")).json()
    assert "maintenance:engine" in {a["key"] for a in vehicle["alerts"]}
    assert await maintenance_events(pool, vehicle_id) == ["VehicleAlertRaised"]

    await send_trip_history(client, vehicle_id, fleet, *safe, start + timedelta(minutes=10))
    await sweep.sweep.remote()
    vehicle = (await client.get(f"/v1/vehicles/{vehicle_id}")).json()
    assert "maintenance:engine" not in {a["key"] for a in vehicle["alerts"]}
    await sweep.sweep.remote()
    assert await maintenance_events(pool, vehicle_id) == ["VehicleAlertRaised", "VehicleAlertCleared"]

    url = stack.urls()["metrics_url"]

    async def exported() -> bool:
        predicted = await metric(url, "maintenance_sweep_predictions_total", family="engine")
        rounds = await metric(url, "maintenance_sweep_duration_seconds_count")
        return (predicted or 0) >= 2 and (rounds or 0) >= 3
    await wait_until(exported, timeout=30, interval=1)


async def test_a_vehicle_without_data_says_what_is_missing(served_models, make_client):
    client, vehicle_id = await register_vehicle(make_client, "quiet")
    body = (await client.get(f"/v1/vehicles/{vehicle_id}/predictions")).json()
    assert body["predictions"]["engine"] == {"unavailable": "no readings yet"}
    assert "no engine start" in body["predictions"]["battery"]["unavailable"]
    assert body["alerts"] == []


async def test_another_tenants_vehicle_is_a_404(served_models, make_client):
    _, vehicle_id = await register_vehicle(make_client, "private")
    response = await make_client("eve", "other-tenant").get(f"/v1/vehicles/{vehicle_id}/predictions")
    assert response.status_code == 404 and response.json()["error"] == "NOT_FOUND"


def km_driven(speeds: list[tuple[datetime, float]], max_gap_seconds: float = 10.0) -> float:
    """Each speed sample times the time to the next one, gaps over max_gap_seconds excluded."""
    speeds = sorted(speeds)
    return sum(v * (t2 - t1).total_seconds() for (t1, v), (t2, _) in zip(speeds, speeds[1:])
               if (t2 - t1).total_seconds() <= max_gap_seconds) / 3600


def speed_samples(signals: dict[str, np.ndarray], start: datetime) -> list[tuple[datetime, float]]:
    return [(start + timedelta(seconds=SAMPLE_SECONDS * s), float(v))
            for s, v in enumerate(signals["SPEED"][0]) if not np.isnan(v)]


WEEK = 7


async def test_brakes_are_predicted_from_the_distance_since_the_recorded_pad_change(
        fleet, model_registry, served_models, make_client, tmp_path):
    client, vehicle_id = await register_vehicle(make_client, "braked")
    operator = make_client("op", TENANT, role="operator")
    start = datetime.now(timezone.utc) - timedelta(hours=1)
    changed_at = start - timedelta(days=WEEK + 1)
    url = f"/v1/vehicles/{vehicle_id}/brake-pad-changes"
    assert (await client.post(url, json={})).status_code == 403, "operators only"
    future = await operator.post(url, json={"changed_at": (start + timedelta(days=2)).isoformat()})
    assert future.status_code == 400 and "future" in future.text
    assert (await make_client("op", "other-tenant", role="operator").post(url, json={})).status_code == 404
    clean = clean_trips(fleet)
    v, d = next((v, d) for v, d in zip(*np.nonzero(clean)) if d >= WEEK and d + 1 < clean.shape[1]
                and clean[v, d + 1] and fleet.in_service[v, d - WEEK])
    await send_trip(client, vehicle_id, trip(fleet, v, d - WEEK), start - timedelta(days=WEEK))
    await send_trip(client, vehicle_id, trip(fleet, v, d), start)
    brakes = (await client.get(f"/v1/vehicles/{vehicle_id}/predictions")).json()["predictions"]["brakes"]
    assert "no brake pad change recorded" in brakes["unavailable"]

    recorded = await operator.post(url, json={"changed_at": changed_at.isoformat()})  # before both trips
    expected_km = km_driven(speed_samples(trip(fleet, v, d - WEEK), start - timedelta(days=WEEK))
                            + speed_samples(trip(fleet, v, d), start))
    assert recorded.status_code == 201 and recorded.json()["km_since"] == pytest.approx(expected_km, rel=1e-6)
    brakes = (await client.get(f"/v1/vehicles/{vehicle_id}/predictions")).json()["predictions"]["brakes"]
    assert expected_km > 1 and brakes["window"]["km_since_pad_change"] == pytest.approx(expected_km, rel=1e-6)
    assert datetime.fromisoformat(brakes["window"]["pad_changed_at"]) == changed_at
    brakes_model, _ = train.load(await model_registry.fetch("brakes", served_models["brakes"], tmp_path / "brakes"))
    expected = brakes_model.predict(brake_features(trip(fleet, v, d), np.array([expected_km])))
    assert brakes["outputs"]["wear_pct"] == pytest.approx(float(expected["wear_pct"][0]), abs=1e-3)

    await send_trip(client, vehicle_id, trip(fleet, v, d + 1), start + timedelta(minutes=10))
    again = (await client.get(f"/v1/vehicles/{vehicle_id}/predictions")).json()["predictions"]["brakes"]
    more = km_driven(speed_samples(trip(fleet, v, d + 1), start + timedelta(minutes=10)))
    assert again["window"]["km_since_pad_change"] == pytest.approx(expected_km + more, rel=1e-6), \
        "the distance goes on from where the previous prediction left it"
