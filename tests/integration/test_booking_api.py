"""The booking HTTP API end to end: Serve ingress -> booking shard actor -> PostgreSQL ->
outbox relay -> broker -> both consumers, all real, on a local Ray."""

import asyncio
import json
import time
from pathlib import Path

import httpx
import jwt
import pytest
import ray

from actors.consumers import CONSUMER_EFFECTS
from cluster.system_app import TOPICS
from db.flags import BOOKING_CANCELLATION_FLAG, set_flag_percentage
from db.outbox import BOOKING_EVENTS_TOPIC
from tests.helpers import consumed_counts, consumer_stats, create_booking, unique, wait_until

pytestmark = pytest.mark.integration

CANCEL = {"reason": "change_of_plans", "notes": "Found a better option"}


async def test_cancel_returns_the_adr_body_and_both_consumers_apply_it_once(stack, make_client, pool):
    client = make_client("alice")
    booking = await create_booking(client)
    assert len(booking["confirmation_code"]) == 8 and booking["status"] == "confirmed"

    response = await client.post(f"/v1/bookings/{booking['booking_id']}/cancel", json=CANCEL)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"booking_id", "user_id", "resource_id", "status", "cancelled_at",
                         "cancellation_reason", "cancellation_notes", "confirmation_code"}
    assert (body["status"], body["user_id"], body["cancellation_reason"], body["cancellation_notes"]) == (
        "cancelled", "alice", "change_of_plans", "Found a better option")
    assert body["cancelled_at"].endswith("Z") and response.headers["x-request-id"]

    [event_id] = [str(r["event_id"]) for r in await pool.fetch(
        "SELECT event_id FROM booking_outbox WHERE booking_id = $1", body["booking_id"])]
    counts = await wait_until(lambda: _all_consumed(pool, [event_id]))
    assert counts == {"notifications": 1, "property-management": 1}
    released = await pool.fetchval("SELECT released_at FROM resource_reservations WHERE booking_id = $1",
                                   body["booking_id"])
    assert released is not None
    for name in CONSUMER_EFFECTS:  # each consumer reads every partition of the topic
        stats = await consumer_stats(name)
        assert stats["running"] and stats["applied"] >= 1, stats
        assert set(stats["positions"]) == set(range(TOPICS[BOOKING_EVENTS_TOPIC])), stats

    # idempotent: same body back, nothing new published
    again = await client.post(f"/v1/bookings/{booking['booking_id']}/cancel", json={"reason": "other"})
    assert again.status_code == 200 and again.json() == body
    assert await pool.fetchval("SELECT count(*) FROM booking_outbox WHERE booking_id = $1", body["booking_id"]) == 1

    fetched = await client.get(f"/v1/bookings/{booking['booking_id']}")
    assert fetched.status_code == 200 and fetched.json()["status"] == "cancelled"


async def _all_consumed(pool, event_ids):
    counts = await consumed_counts(pool, event_ids)
    return counts if len(counts) == 2 and all(n == len(event_ids) for n in counts.values()) else None


async def test_error_contract(stack, make_client, pool):
    alice, bob = make_client("alice"), make_client("bob")
    other_tenant = make_client("alice", tenant="other")
    booking = await create_booking(alice)
    url = f"/v1/bookings/{booking['booking_id']}/cancel"

    cases = [
        (bob.post(url, json=CANCEL), 403, "UNAUTHORIZED", "You do not own this booking"),
        (other_tenant.post(url, json=CANCEL), 404, "NOT_FOUND", "Booking not found"),
        (alice.post("/v1/bookings/00000000-0000-0000-0000-000000000000/cancel", json=CANCEL),
         404, "NOT_FOUND", "Booking not found"),
        (alice.post(url, json={"reason": "bored"}), 400, "INVALID_REASON", None),
        (alice.post(url, json={"reason": "other", "notes": "x" * 1001}), 400, "INVALID_REQUEST", None),
        (alice.post(url, content=b"{not json", headers={"content-type": "application/json"}),
         400, "INVALID_REQUEST", "Request body is not valid JSON"),
        (alice.post("/v1/bookings/not-a-uuid/cancel", json=CANCEL), 400, "INVALID_REQUEST", None),
        (alice.post(url, json={}), 400, "INVALID_REASON", None),
    ]
    for request, status, code, message in cases:
        response = await request
        assert response.status_code == status, (code, response.text)
        assert response.json()["error"] == code
        if message:
            assert response.json()["message"] == message
    assert await pool.fetchval("SELECT status FROM bookings WHERE id = $1", booking["booking_id"]) == "confirmed"

    operator = make_client("ops", role="operator")
    assert (await alice.post(f"/v1/bookings/{booking['booking_id']}/complete")).status_code == 403
    completed = await operator.post(f"/v1/bookings/{booking['booking_id']}/complete")
    assert completed.status_code == 200 and completed.json()["status"] == "completed"
    response = await alice.post(url, json=CANCEL)
    assert response.status_code == 400
    assert response.json() == {"error": "INVALID_STATUS", "message": "Cannot cancel booking with status 'completed'"}


@pytest.mark.parametrize("header", [
    None,
    "Bearer garbage",
    "Basic YWxpY2U6cHc=",
    "Bearer " + jwt.encode({"sub": "alice", "aud": "fleetray", "iss": "fleetray-local",
                            "exp": int(time.time()) + 60}, None, algorithm="none"),
    "Bearer " + jwt.encode({"sub": "alice", "aud": "fleetray", "iss": "fleetray-local",
                            "exp": int(time.time()) - 60}, "test-secret-not-for-production-use-only", algorithm="HS256"),
], ids=["missing", "garbage", "basic", "alg-none", "expired"])
async def test_requests_without_a_valid_token_get_401(stack, header):
    headers = {"Authorization": header} if header else {}
    async with httpx.AsyncClient(base_url=stack.api_url) as client:
        response = await client.post("/v1/bookings/00000000-0000-0000-0000-000000000000/cancel",
                                     json=CANCEL, headers=headers)
    assert response.status_code == 401
    assert response.json()["error"] == "UNAUTHENTICATED"


async def test_feature_flag_rollout_gates_cancellation_at_run_time(stack, make_client, pool):
    client = make_client(unique("user"))
    booking = await create_booking(client)
    url = f"/v1/bookings/{booking['booking_id']}/cancel"
    await set_flag_percentage(pool, BOOKING_CANCELLATION_FLAG, 0)
    try:
        await asyncio.sleep(1.2)  # the API caches the flag for one second
        response = await client.post(url, json=CANCEL)
        assert response.status_code == 403 and response.json()["error"] == "FEATURE_DISABLED"
    finally:
        await set_flag_percentage(pool, BOOKING_CANCELLATION_FLAG, 100)
    await asyncio.sleep(1.2)
    assert (await client.post(url, json=CANCEL)).status_code == 200


async def test_cancellations_are_audit_logged(stack, make_client, pool):
    user = unique("user")
    client = make_client(user)
    booking = await create_booking(client)
    await client.post(f"/v1/bookings/{booking['booking_id']}/cancel", json=CANCEL,
                      headers={"x-request-id": "req-audit-1"})
    row = await wait_until(lambda: pool.fetchrow(
        "SELECT user_id, ip_address, outcome, request_id, occurred_at FROM audit_log"
        " WHERE booking_id = $1 AND action = 'cancel_booking'",
        booking["booking_id"]))
    assert (row["user_id"], row["ip_address"], row["outcome"], row["request_id"]) == (
        user, "127.0.0.1", "cancelled", "req-audit-1")


async def test_cancellations_log_one_json_line_with_the_request_id(stack, make_client):
    client = make_client(unique("user"))
    booking = await create_booking(client)
    response = await client.post(f"/v1/bookings/{booking['booking_id']}/cancel", json=CANCEL,
                                 headers={"x-request-id": "req-log-1"})
    assert response.headers.get_list("x-request-id") == ["req-log-1"]
    serve_logs = Path(ray._private.worker._global_node.get_logs_dir_path()) / "serve"

    def logged() -> list[dict]:
        lines = (line for path in serve_logs.glob("replica_api_FleetApi_*.log")
                 for line in path.read_text().splitlines() if line.startswith("{"))
        return [entry for entry in map(json.loads, lines)
                if entry.get("message") == "cancel_booking" and entry.get("request_id") == "req-log-1"]
    [entry] = await wait_until(lambda: asyncio.to_thread(logged))
    assert (entry["booking_id"], entry["outcome"]) == (booking["booking_id"], "cancelled")
    assert entry["duration_ms"] > 0


async def test_healthz_checks_database_broker_and_actors(stack):
    async with httpx.AsyncClient() as client:
        health = await client.get(f"{stack.api_url}/healthz")
    assert health.status_code == 200, health.text
    assert health.json()["checks"] == {"database": True, "broker": True, "actors": True}


async def test_200_concurrent_cancels_of_one_booking(stack, make_client, pool):
    client = make_client("alice")
    booking = await create_booking(client)
    url = f"/v1/bookings/{booking['booking_id']}/cancel"
    responses = await asyncio.gather(*(client.post(url, json=CANCEL) for _ in range(200)))
    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {200, 409}, statuses
    assert statuses.count(200) >= 1
    cancelled_at = {r.json()["cancelled_at"] for r in responses if r.status_code == 200}
    assert len(cancelled_at) == 1, "every 200 reports the one stored cancellation"
    row = await pool.fetchrow("SELECT status, version FROM bookings WHERE id = $1", booking["booking_id"])
    assert (row["status"], row["version"]) == ("cancelled", 2)
    event_ids = [str(r["event_id"]) for r in await pool.fetch(
        "SELECT event_id FROM booking_outbox WHERE booking_id = $1", booking["booking_id"])]
    assert len(event_ids) == 1
    assert await wait_until(lambda: _all_consumed(pool, event_ids)) == {
        "notifications": 1, "property-management": 1}


async def test_a_create_sent_again_with_its_idempotency_key_returns_the_first_booking(stack, make_client, pool):
    alice, bob = make_client("idem-alice"), make_client("idem-bob")
    key = {"Idempotency-Key": unique("create")}
    body = {"resource_id": unique("flat"), "starts_at": "2027-03-01T10:00:00Z", "ends_at": "2027-03-02T10:00:00Z"}
    first, again = [await alice.post("/v1/bookings", json=body, headers=key) for _ in range(2)]
    assert (first.status_code, again.status_code) == (201, 201), (first.text, again.text)
    assert again.json() == first.json()
    assert await pool.fetchval("SELECT count(*) FROM bookings WHERE resource_id = $1", body["resource_id"]) == 1
    # the same key is another user's own; for another resource it is a conflict
    other = await bob.post("/v1/bookings", json=body, headers=key)
    assert other.status_code == 201 and other.json()["booking_id"] != first.json()["booking_id"]
    clash = await alice.post("/v1/bookings", json={**body, "resource_id": unique("flat")}, headers=key)
    assert clash.status_code == 409 and clash.json()["error"] == "CONFLICT"


async def test_the_booking_list_holds_the_callers_own_bookings_newest_first(stack, make_client):
    tenant = unique("list")
    owner, neighbour = make_client("owner", tenant=tenant), make_client("neighbour", tenant=tenant)
    first, second = await create_booking(owner), await create_booking(owner)
    await create_booking(neighbour)
    listed = await owner.get("/v1/bookings")
    assert listed.status_code == 200
    assert [b["booking_id"] for b in listed.json()] == [second["booking_id"], first["booking_id"]]
    assert (await make_client("owner", tenant=unique("other")).get("/v1/bookings")).json() == []
