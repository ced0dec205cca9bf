"""The vehicle API end to end on the real stack: operators register, gateways ingest, users
read live state and history; tenants never see each other's vehicles."""

import pytest

from tests.helpers import unique

pytestmark = pytest.mark.integration


def batch(n=3, pid="RPM", start_second=0):
    return {"readings": [{"pid": pid, "value": 1000.0 + i, "unit": "revolutions_per_minute",
                          "captured_at": f"2026-11-23T12:00:{start_second + i:02d}Z"} for i in range(n)]}


async def register(make_client, tenant="fleet-a"):
    operator = make_client("ops", tenant=tenant, role="operator")
    vehicle_id = unique("van")
    response = await operator.post("/v1/vehicles", json={"vehicle_id": vehicle_id, "name": "Van",
                                                         "adapter": {"port": "/dev/rfcomm0"}})
    assert response.status_code == 201, response.text
    return vehicle_id


async def test_register_ingest_and_read_back(stack, make_client):
    vehicle_id = await register(make_client)
    user = make_client("driver", tenant="fleet-a")
    response = await user.post(f"/v1/vehicles/{vehicle_id}/telemetry", json=batch(5))
    assert response.status_code == 202 and response.json() == {"accepted": 5}

    live = (await user.get(f"/v1/vehicles/{vehicle_id}")).json()
    assert live["readings"]["RPM"]["value"] == 1004.0 and live["readings"]["RPM"]["unit"] == "revolutions_per_minute"
    assert live["last_seen"] == "2026-11-23T12:00:04Z"

    history = (await user.get(f"/v1/vehicles/{vehicle_id}/telemetry",
                              params={"pid": "RPM", "from": "2026-11-23T12:00:01Z", "to": "2026-11-23T12:00:04Z"})).json()
    assert [p["value"] for p in history] == [1003.0, 1002.0, 1001.0]

    listed = (await user.get("/v1/vehicles")).json()
    assert vehicle_id in [v["vehicle_id"] for v in listed]
    assert {"health_score", "driver_score", "connection"} <= set(listed[0])
    dtcs = (await user.get(f"/v1/vehicles/{vehicle_id}/dtcs")).json()
    assert dtcs == {"active": [], "history": []}


async def test_tenants_are_isolated(stack, make_client):
    vehicle_id = await register(make_client, tenant="fleet-a")
    intruder = make_client("spy", tenant="fleet-b")
    for method, path, body in [("GET", f"/v1/vehicles/{vehicle_id}", None),
                               ("POST", f"/v1/vehicles/{vehicle_id}/telemetry", batch()),
                               ("GET", f"/v1/vehicles/{vehicle_id}/telemetry", None),
                               ("GET", f"/v1/vehicles/{vehicle_id}/dtcs", None)]:
        response = await intruder.request(method, path, json=body)
        assert response.status_code == 404, (path, response.text)
        assert response.json()["error"] == "NOT_FOUND"
    assert vehicle_id not in [v["vehicle_id"] for v in (await intruder.get("/v1/vehicles")).json()]
    owner = make_client("driver", tenant="fleet-a")
    assert (await owner.get(f"/v1/vehicles/{vehicle_id}/telemetry")).json() == []


async def test_bad_input_is_a_400_and_nothing_is_stored(stack, make_client):
    vehicle_id = await register(make_client)
    user = make_client("driver", tenant="fleet-a")
    url = f"/v1/vehicles/{vehicle_id}/telemetry"
    naive = batch(1)
    naive["readings"][0]["captured_at"] = "2026-11-23T12:00:00"
    for body in [{"readings": []}, batch(1, pid="rpm; drop table"), naive, batch(5001),
                 {"readings": [{"pid": "RPM", "value": "fast", "captured_at": "2026-11-23T12:00:00Z"}]}]:
        response = await user.post(url, json=body)
        assert response.status_code == 400, response.text
        assert response.json()["error"] == "INVALID_REQUEST"
    assert (await user.get(url)).json() == []
    assert (await user.post("/v1/vehicles", json={"vehicle_id": "x1", "name": "n"})).status_code == 403


async def test_registering_an_existing_id_is_a_conflict(stack, make_client):
    vehicle_id = await register(make_client)
    operator = make_client("ops", tenant="fleet-a", role="operator")
    response = await operator.post("/v1/vehicles", json={"vehicle_id": vehicle_id, "name": "Mine"})
    assert response.status_code == 409
