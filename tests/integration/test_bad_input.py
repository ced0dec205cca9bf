"""Bad input on the real stack, as a probing client sends it: each is a documented 4xx with an
error body, and the vehicle, its tenant, the shard's other writers, the audit trail and the
streams go on working afterwards."""

import asyncio
import json
import time
from datetime import datetime, timedelta, timezone

import httpx
import jwt
import pytest
from httpx_sse import aconnect_sse
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

from tests.helpers import create_booking, token_for, unique, wait_until

pytestmark = pytest.mark.integration

CANCEL_BODY = {"reason": "other"}


async def register(make_client, tenant="probe-a"):
    vehicle_id = unique("van")
    response = await make_client("ops", tenant=tenant, role="operator").post(
        "/v1/vehicles", json={"vehicle_id": vehicle_id, "name": "Van"})
    assert response.status_code == 201, response.text
    return vehicle_id


def reading(captured_at=None, **overrides):
    at = captured_at or datetime.now(timezone.utc).isoformat()
    return {"pid": "RPM", "value": 900.0, "unit": "revolutions_per_minute", "captured_at": at, **overrides}


def assert_error(response, status, code="INVALID_REQUEST"):
    assert response.status_code == status, (response.status_code, response.text)
    assert response.json()["error"] == code, response.text


@pytest.mark.parametrize("captured_at", ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999Z",
                                         "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
async def test_a_reading_at_the_ends_of_time_is_refused_and_the_tenant_keeps_working(stack, make_client, captured_at):
    vehicle_id = await register(make_client)
    user = make_client("driver", tenant="probe-a")
    assert_error(await user.post(f"/v1/vehicles/{vehicle_id}/telemetry",
                                 json={"readings": [reading(captured_at)]}), 400)
    assert (await user.post(f"/v1/vehicles/{vehicle_id}/telemetry", json={"readings": [reading()]})).status_code == 202
    for path in (f"/v1/vehicles/{vehicle_id}", "/v1/vehicles", "/v1/fleet/leaderboard"):
        assert (await user.get(path)).status_code == 200, path


async def test_a_reading_from_the_future_is_refused_and_leaves_the_vehicle_as_it_was(stack, make_client):
    vehicle_id = await register(make_client)
    user = make_client("driver", tenant="probe-a")
    now = datetime.now(timezone.utc)
    assert (await user.post(f"/v1/vehicles/{vehicle_id}/telemetry",
                            json={"readings": [reading(now.isoformat())]})).status_code == 202
    future = reading((now + timedelta(hours=1)).isoformat())
    refused = await user.post(f"/v1/vehicles/{vehicle_id}/telemetry", json={"readings": [reading(), future]})
    assert_error(refused, 400)
    assert "readings[1].captured_at" in refused.json()["message"]
    live = (await user.get(f"/v1/vehicles/{vehicle_id}")).json()
    assert datetime.fromisoformat(live["last_seen"].replace("Z", "+00:00")) <= now + timedelta(seconds=1)


@pytest.mark.parametrize("body", [
    {"readings": [reading(unit="rpm\x00")]}, {"readings": [reading(value=True)]},
    {"readings": [reading(captured_at="1733000000")]}, {"readings": [reading(pid="RPM\x00")]},
], ids=["nul-unit", "boolean-value", "number-time", "nul-pid"])
async def test_malformed_readings_are_400s(stack, make_client, body):
    vehicle_id = await register(make_client)
    assert_error(await make_client("driver", tenant="probe-a").post(f"/v1/vehicles/{vehicle_id}/telemetry", json=body),
                 400)


async def test_one_tenants_bad_readings_do_not_fail_another_tenants_posts(stack, make_client):
    """Concurrent posts land in the same shard flushes; the refused ones must not take the
    others down with them."""
    bad_vehicle, good_vehicle = await register(make_client, "probe-a"), await register(make_client, "probe-b")
    bad, good = make_client("mallory", tenant="probe-a"), make_client("driver", tenant="probe-b")
    poison = {"readings": [reading(unit="x\x00")]}

    async def post_good(i):
        at = (datetime.now(timezone.utc) - timedelta(seconds=i)).isoformat()
        return (await good.post(f"/v1/vehicles/{good_vehicle}/telemetry", json={"readings": [reading(at)]})).status_code
    results = await asyncio.gather(*(post_good(i) for i in range(60)),
                                   *(bad.post(f"/v1/vehicles/{bad_vehicle}/telemetry", json=poison) for _ in range(60)))
    assert results[:60] == [202] * 60
    assert {r.status_code for r in results[60:]} == {400}
    stored = (await good.get(f"/v1/vehicles/{good_vehicle}/telemetry", params={"limit": 100})).json()
    assert len(stored) == 60


async def test_nul_bytes_anywhere_are_400s(stack, make_client):
    vehicle_id = await register(make_client)
    user = make_client("driver", tenant="probe-a")
    operator = make_client("ops", tenant="probe-a", role="operator")
    assert_error(await user.get("/v1/vehicles/van%00x"), 400)
    assert_error(await user.get("/v1/vehicles/van%00x/stream"), 400)
    assert_error(await user.get(f"/v1/vehicles/{vehicle_id}/telemetry", params={"pid": "RPM\x00"}), 400)
    assert_error(await user.post("/v1/bookings", json={"resource_id": "car\x00", "starts_at": "2030-01-01T00:00:00Z",
                                                        "ends_at": "2030-01-02T00:00:00Z"}), 400)
    booking = await create_booking(user)
    assert_error(await user.post(f"/v1/bookings/{booking['booking_id']}/cancel",
                                 json={"reason": "other", "notes": "n\x00"}), 400)
    assert_error(await operator.post("/v1/vehicles", json={"vehicle_id": unique("van"), "name": "V",
                                                            "adapter": {"po\x00rt": "x"}}), 400)


@pytest.mark.parametrize("params", [{"from": "0001-01-01T00:00:00+01:00"}, {"to": "9999-12-31T23:59:59-01:00"},
                                    {"to": "0.5"}, {"from": "2026-11-23T12:00:00"}],
                         ids=["from-before-year-1", "to-after-9999", "number", "no-time-zone"])
async def test_history_bounds_must_be_instants(stack, make_client, params):
    vehicle_id = await register(make_client)
    assert_error(await make_client("driver", tenant="probe-a").get(f"/v1/vehicles/{vehicle_id}/telemetry",
                                                                   params=params), 400)


@pytest.mark.parametrize("body", [
    {"resource_id": "car", "starts_at": "2030-01-01T00:00:00Z", "ends_at": "9999-12-31T23:59:59.999999Z"},
    {"resource_id": "car", "starts_at": 0, "ends_at": "2030-01-02T00:00:00Z"},
    {"resource_id": "car", "starts_at": "2020-01-01T00:00:00Z", "ends_at": "2020-01-02T00:00:00Z"},
], ids=["ends-at-infinity", "number", "in-the-past"])
async def test_bookings_need_a_storable_future_period(stack, make_client, body):
    assert_error(await make_client(unique("user")).post("/v1/bookings", json=body), 400)


async def test_pad_change_dates_out_of_range_are_400s(stack, make_client):
    vehicle_id = await register(make_client)
    operator = make_client("ops", tenant="probe-a", role="operator")
    assert_error(await operator.post(f"/v1/vehicles/{vehicle_id}/brake-pad-changes",
                                     json={"changed_at": "0001-01-01T00:00:00+01:00"}), 400)


async def test_bodies_over_the_limit_are_refused_before_they_are_read(stack):
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=60) as anonymous:
        response = await anonymous.post("/v1/webhooks/telematics/probe-a", content=b"x" * (3 * 1024 * 1024),
                                        headers={"X-Fleetray-Timestamp": str(int(time.time())),
                                                 "X-Fleetray-Signature": "sha256=00"})
        assert_error(response, 413, "PAYLOAD_TOO_LARGE")

        async def chunks():  # no Content-Length: counted as it arrives
            for _ in range(200):
                yield b"x" * 1024
        response = await anonymous.post("/v1/bookings", content=chunks())
        assert_error(response, 413, "PAYLOAD_TOO_LARGE")


async def test_a_large_adapter_object_is_refused(stack, make_client):
    operator = make_client("ops", tenant="probe-a", role="operator")
    assert_error(await operator.post("/v1/vehicles", json={"vehicle_id": unique("van"), "name": "V",
                                                            "adapter": {"blob": "x" * 10_000}}), 400)


async def test_a_webhook_timestamp_of_hundreds_of_digits_is_a_401(stack):
    async with httpx.AsyncClient(base_url=stack.api_url) as anonymous:
        response = await anonymous.post("/v1/webhooks/telematics/probe-a", content=b"{}",
                                        headers={"X-Fleetray-Timestamp": "9" * 309, "X-Fleetray-Signature": "sha256=00"})
    assert_error(response, 401, "UNAUTHENTICATED")


@pytest.mark.parametrize("claims", [{"tenant": None}, {"tenant": ["a", "b"]}, {"tenant": ""}, {"sub": ""},
                                    {"tenant": "t\x00"}, {"sub": "u\x00"}, {"drop": "tenant"}],
                         ids=["null-tenant", "list-tenant", "empty-tenant", "empty-sub", "nul-tenant", "nul-sub",
                              "no-tenant"])
async def test_a_token_must_name_a_user_and_a_tenant(stack, auth_config, claims):
    now = int(time.time())
    payload = {"sub": "alice", "tenant": "probe-a", "role": "user", "aud": auth_config.audience,
               "iss": auth_config.issuer, "iat": now, "exp": now + 60}
    payload.pop(claims.pop("drop", None), None)
    payload.update(claims)
    token = jwt.encode(payload, auth_config.secret, algorithm="HS256")
    async with httpx.AsyncClient(base_url=stack.api_url, headers={"Authorization": f"Bearer {token}"}) as client:
        assert_error(await client.get("/v1/vehicles"), 401, "UNAUTHENTICATED")


async def test_401_messages_do_not_show_the_token_librarys_internals(stack):
    async with httpx.AsyncClient(base_url=stack.api_url, headers={"Authorization": "Bearer __4.e30.x"}) as client:
        response = await client.get("/v1/vehicles")
    assert_error(response, 401, "UNAUTHENTICATED")
    assert "codec" not in response.json()["message"] and "malformed token" in response.json()["message"]


async def test_the_audited_address_is_the_peer_not_a_forwarded_header(stack, make_client, pool):
    client = make_client(unique("user"))
    booking = await create_booking(client)
    await client.post(f"/v1/bookings/{booking['booking_id']}/cancel", json=CANCEL_BODY,
                      headers={"X-Forwarded-For": "6.6.6.6"})
    row = await wait_until(lambda: pool.fetchrow(
        "SELECT ip_address FROM audit_log WHERE booking_id = $1 AND action = 'cancel_booking'", booking["booking_id"]))
    assert row["ip_address"] == "127.0.0.1"


async def test_another_tenants_operator_cannot_learn_that_a_vehicle_exists(stack, make_client):
    vehicle_id = await register(make_client, "probe-a")
    outsider = make_client("ops", tenant="probe-b", role="operator")
    assert_error(await outsider.post("/v1/vehicles", json={"vehicle_id": vehicle_id, "name": "Mine"}), 404, "NOT_FOUND")
    same_tenant = make_client("ops", tenant="probe-a", role="operator")
    assert_error(await same_tenant.post("/v1/vehicles", json={"vehicle_id": vehicle_id, "name": "Again"}), 409,
                 "CONFLICT")


async def test_a_resume_id_of_thousands_of_digits_starts_the_stream_afresh(stack, make_client, auth_config):
    vehicle_id = await register(make_client)
    user = make_client("driver", tenant="probe-a")
    huge = "x-" + "9" * 5000
    async with aconnect_sse(user, "GET", f"/v1/vehicles/{vehicle_id}/stream", headers={"Last-Event-ID": huge}) as source:
        first = await asyncio.wait_for(anext(source.aiter_sse()), 20)
    assert first.event == "state"
    url = stack.api_url.replace("http://", "ws://") + f"/v1/vehicles/{vehicle_id}/ws"
    token = token_for(auth_config, "driver", "probe-a")
    async with ws_connect(f"{url}?access_token={token}&last_event_id={huge}", open_timeout=20) as socket:
        assert json.loads(await asyncio.wait_for(socket.recv(), 20))["type"] == "state"


@pytest.mark.parametrize("path", ["/v1/vehicles/{vehicle}/ws?access_token=garbage", "/v1/vehicles/van%00x/ws?access_token={token}"],
                         ids=["bad-token", "bad-vehicle-id"])
async def test_a_refused_websocket_is_closed_with_1008(stack, make_client, auth_config, path):
    vehicle_id = await register(make_client)
    url = stack.api_url.replace("http://", "ws://") + path.format(
        vehicle=vehicle_id, token=token_for(auth_config, "driver", "probe-a"))
    async with ws_connect(url, open_timeout=20) as socket:
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(socket.recv(), 20)
    assert closed.value.rcvd.code == 1008


async def test_a_wrong_method_is_a_405_with_allow(stack, make_client):
    response = await make_client("driver").delete("/v1/bookings")
    assert response.status_code == 405 and response.headers["allow"] == "POST"
    assert response.json()["error"] == "INVALID_REQUEST"


async def test_the_openapi_document_declares_400_not_422(stack):
    async with httpx.AsyncClient(base_url=stack.api_url) as anonymous:
        document = (await anonymous.get("/openapi.json")).json()
    statuses = {status for operations in document["paths"].values() for op in operations.values()
                for status in op["responses"]}
    assert "422" not in statuses and {"400", "401", "413"} <= statuses
