"""Live streams on the real stack: an SSE client and a WebSocket client receive a vehicle's
readings as they are ingested, the fleet stream receives a tenant's alerts through Kafka, and
no stream shows one tenant's vehicle or alerts to another."""

import asyncio
import json

import httpx
import pytest
from httpx_sse import aconnect_sse
from websockets.asyncio.client import connect as ws_connect

from tests.helpers import token_for, unique

pytestmark = pytest.mark.integration


async def register(make_client, tenant):
    vehicle_id = unique("van")
    response = await make_client("ops", tenant=tenant, role="operator").post(
        "/v1/vehicles", json={"vehicle_id": vehicle_id, "name": "Van", "adapter": {}})
    assert response.status_code == 201, response.text
    return vehicle_id


def reading(pid, value, second=0):
    return {"pid": pid, "value": value, "unit": None, "captured_at": f"2026-11-23T12:00:{second:02d}Z"}


async def next_event(events, kind, timeout=20):
    async def find():
        async for sse in events:
            if sse.event == kind:
                return json.loads(sse.data)
    return await asyncio.wait_for(find(), timeout)


async def test_sse_client_receives_state_then_readings_and_alerts(stack, make_client):
    vehicle_id = await register(make_client, "fleet-s")
    client = make_client("driver", tenant="fleet-s")
    async with aconnect_sse(client, "GET", f"/v1/vehicles/{vehicle_id}/stream") as source:
        assert source.response.headers["content-type"].startswith("text/event-stream")
        events = source.aiter_sse()
        state = await next_event(events, "state")
        assert state["vehicle"]["vehicle_id"] == vehicle_id
        response = await client.post(f"/v1/vehicles/{vehicle_id}/telemetry", json={"readings": [
            reading("RPM", 2100.0), reading("COOLANT_TEMP", 118.0)]})
        assert response.status_code == 202
        readings = await next_event(events, "readings")
        assert {r["pid"]: r["value"] for r in readings["readings"]} == {"RPM": 2100.0, "COOLANT_TEMP": 118.0}
        alert = await next_event(events, "alert")
        assert (alert["change"], alert["key"]) == ("raised", "coolant_high")


async def test_websocket_client_receives_readings(stack, make_client, auth_config):
    vehicle_id = await register(make_client, "fleet-s")
    url = stack.api_url.replace("http://", "ws://") + f"/v1/vehicles/{vehicle_id}/ws"
    token = token_for(auth_config, "driver", "fleet-s")
    async with ws_connect(f"{url}?access_token={token}", open_timeout=20) as socket:
        state = json.loads(await asyncio.wait_for(socket.recv(), 20))
        assert state["type"] == "state" and state["vehicle"]["vehicle_id"] == vehicle_id
        await make_client("driver", tenant="fleet-s").post(
            f"/v1/vehicles/{vehicle_id}/telemetry", json={"readings": [reading("SPEED", 42.0)]})
        message = json.loads(await asyncio.wait_for(socket.recv(), 20))
        assert message["type"] == "readings" and message["readings"][0]["value"] == 42.0


async def test_fleet_stream_carries_the_tenants_alerts_only(stack, make_client):
    vehicle_id = await register(make_client, "fleet-f")
    other_vehicle = await register(make_client, "fleet-g")
    mine, theirs = make_client("boss", tenant="fleet-f"), make_client("boss", tenant="fleet-g")
    async with aconnect_sse(mine, "GET", "/v1/fleet/stream") as mine_source, \
            aconnect_sse(theirs, "GET", "/v1/fleet/stream") as their_source:
        await asyncio.sleep(1)  # the feed is live from "now": let both subscriptions settle
        await mine.post(f"/v1/vehicles/{vehicle_id}/telemetry", json={"readings": [reading("COOLANT_TEMP", 121.0)]})
        alert = await next_event(mine_source.aiter_sse(), "alert", timeout=30)
        assert (alert["vehicle_id"], alert["event_type"], alert["alert_key"]) == (
            vehicle_id, "VehicleAlertRaised", "coolant_high")
        await theirs.post(f"/v1/vehicles/{other_vehicle}/telemetry", json={"readings": [reading("COOLANT_TEMP", 121.0)]})
        alert = await next_event(their_source.aiter_sse(), "alert", timeout=30)
        assert alert["vehicle_id"] == other_vehicle, "fleet-g's stream starts with its own alert, not fleet-f's"


async def test_streams_of_another_tenants_vehicle_are_refused(stack, make_client, auth_config):
    vehicle_id = await register(make_client, "fleet-s")
    outsider = make_client("mallory", tenant="fleet-x")
    response = await outsider.get(f"/v1/vehicles/{vehicle_id}/stream")
    assert response.status_code == 404 and response.json()["error"] == "NOT_FOUND"
    url = stack.api_url.replace("http://", "ws://") + f"/v1/vehicles/{vehicle_id}/ws"
    for query in (f"?access_token={token_for(auth_config, 'mallory', 'fleet-x')}", "", "?access_token=garbage"):
        with pytest.raises(Exception) as refused:  # handshake refused (403) or closed with 1008
            async with ws_connect(url + query, open_timeout=20) as socket:
                await asyncio.wait_for(socket.recv(), 5)
        assert "1008" in str(refused.value) or "403" in str(refused.value), refused.value
    async with httpx.AsyncClient(base_url=stack.api_url) as anonymous:
        assert (await anonymous.get(f"/v1/vehicles/{vehicle_id}/stream")).status_code == 401


async def test_an_sse_client_reconnecting_with_last_event_id_gets_what_it_missed(stack, make_client):
    vehicle_id = await register(make_client, "fleet-s")
    client = make_client("driver", tenant="fleet-s")
    url = f"/v1/vehicles/{vehicle_id}/stream"

    async def ingest(value, second):
        response = await client.post(f"/v1/vehicles/{vehicle_id}/telemetry",
                                     json={"readings": [reading("SPEED", value, second)]})
        assert response.status_code == 202

    async with aconnect_sse(client, "GET", url) as source:
        events = source.aiter_sse()
        await next_event(events, "state")
        await ingest(10.0, 1)
        async for sse in events:
            if sse.event == "readings":
                last_id = sse.id
                break
    assert last_id
    await ingest(20.0, 2)  # while the client is away
    await ingest(30.0, 3)
    async with aconnect_sse(client, "GET", url, headers={"Last-Event-ID": last_id}) as source:
        events = source.aiter_sse()
        first = await asyncio.wait_for(anext(events), 20)
        assert first.event == "readings", "resumed: the missed events, no new state"
        second = await asyncio.wait_for(anext(events), 20)
        assert [json.loads(e.data)["readings"][0]["value"] for e in (first, second)] == [20.0, 30.0]
        epoch, seq = last_id.rsplit("-", 1)
        assert [e.id for e in (first, second)] == [f"{epoch}-{int(seq) + n}" for n in (1, 2)]
    async with aconnect_sse(client, "GET", url, headers={"Last-Event-ID": "00000000-1"}) as source:
        first = await asyncio.wait_for(anext(source.aiter_sse()), 20)
        assert first.event == "state", "an id the ring cannot resume from: a fresh stream"


async def test_a_websocket_client_reconnecting_with_last_event_id_gets_what_it_missed(stack, make_client,
                                                                                     auth_config):
    vehicle_id = await register(make_client, "fleet-s")
    client = make_client("driver", tenant="fleet-s")
    url = (stack.api_url.replace("http://", "ws://") + f"/v1/vehicles/{vehicle_id}/ws"
           f"?access_token={token_for(auth_config, 'driver', 'fleet-s')}")

    async def ingest(value, second):
        response = await client.post(f"/v1/vehicles/{vehicle_id}/telemetry",
                                     json={"readings": [reading("SPEED", value, second)]})
        assert response.status_code == 202

    async def receive(socket):
        return json.loads(await asyncio.wait_for(socket.recv(), 20))

    async with ws_connect(url, open_timeout=20) as socket:
        assert (await receive(socket))["type"] == "state"
        await ingest(10.0, 1)
        message = await receive(socket)
        assert message["type"] == "readings" and message["id"]
    await ingest(20.0, 2)  # while the client is away
    await ingest(30.0, 3)
    async with ws_connect(f"{url}&last_event_id={message['id']}", open_timeout=20) as socket:
        missed = [await receive(socket), await receive(socket)]
        assert [m["type"] for m in missed] == ["readings", "readings"], "resumed: no new state"
        assert [m["readings"][0]["value"] for m in missed] == [20.0, 30.0]
