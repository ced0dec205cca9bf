"""GET /v1/fleet/leaderboard on the real stack: the tenant's vehicles by driver score, best
first, with scores lowered by the harsh events their readings show; no other tenant's."""

import pytest

from tests.helpers import unique
from tests.integration.test_vehicle_api import register

pytestmark = pytest.mark.integration


def speeds(*kmh: float) -> dict:
    """One SPEED reading a second: a 20 km/h step is a hard acceleration or hard braking."""
    return {"readings": [{"pid": "SPEED", "value": v, "unit": "kph", "captured_at": f"2026-11-23T12:00:{i:02d}Z"}
                         for i, v in enumerate(kmh)]}


async def test_vehicles_are_ranked_by_driver_score(stack, make_client):
    tenant = unique("league")
    smooth, jerky, jerkier = [await register(make_client, tenant=tenant) for _ in range(3)]
    gateway = make_client("gateway", tenant=tenant)
    for vehicle_id, trip in [(smooth, speeds(0, 5, 10)), (jerky, speeds(0, 20, 25)), (jerkier, speeds(0, 20, 0))]:
        response = await gateway.post(f"/v1/vehicles/{vehicle_id}/telemetry", json=trip)
        assert response.status_code == 202, response.text

    response = await make_client("viewer", tenant=tenant).get("/v1/fleet/leaderboard")
    assert response.status_code == 200, response.text
    board = response.json()
    assert [(entry["vehicle_id"], entry["driver_score"]) for entry in board] == \
        [(smooth, 100.0), (jerky, 95.0), (jerkier, 90.0)]
    assert set(board[0]) == {"vehicle_id", "name", "driver_score", "harsh_events"} and board[0]["name"] == "Van"
    assert board[2]["harsh_events"] == {"hard_acceleration": 1, "hard_braking": 1, "over_rev": 0}


async def test_ties_are_ordered_by_vehicle_id_and_other_tenants_are_left_out(stack, make_client):
    tenant = unique("league")
    ours = sorted([await register(make_client, tenant=tenant) for _ in range(2)])
    await register(make_client, tenant=unique("rival"))
    board = (await make_client("viewer", tenant=tenant).get("/v1/fleet/leaderboard")).json()
    assert [entry["vehicle_id"] for entry in board] == ours


async def test_an_empty_fleet_has_an_empty_leaderboard(stack, make_client):
    response = await make_client("viewer", tenant=unique("empty")).get("/v1/fleet/leaderboard")
    assert response.status_code == 200 and response.json() == []
