"""Rate limits on the real actors and PostgreSQL: a user over its rate is answered 429
RATE_LIMITED with Retry-After and nothing is done for it, while another user of the tenant goes
on; a vehicle over its ingest rate is refused while the fleet's other vehicles are stored.

The session stack runs without limits (other tests send one user's traffic far over a
user's rate), so these serve the same app (create_app) in-process with tight limits, on
services opened on the stack's actors and database (as tests/integration/test_webhooks.py does)."""

import json
import time
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from cluster.deploy import api_args
from serve_apps.ingress import create_app
from serve_apps.rate_limits import RateLimit, RouteGroupLimits
from serve_apps.services import open_services
from serve_apps.webhooks import signature
from tests.helpers import create_booking, token_for, unique
from tests.integration.test_vehicle_api import register

pytestmark = pytest.mark.integration

TENANT = unique("limited")
SECRET = "rate-limited-tenant-secret"
# A caller's burst is counted over a window of burst / per_second seconds, and the sliding window
# counter forgives part of the previous window's count once a new one starts: windows of
# thousands of seconds keep a test's few requests inside one, however slow the machine.
PER_SECOND = 0.001
LIMITS = {"bookings": RouteGroupLimits(caller=RateLimit(per_second=PER_SECOND, burst=5),
                                       tenant=RateLimit(per_second=100, burst=100)),
          "telemetry": RouteGroupLimits(caller=RateLimit(per_second=PER_SECOND, burst=3),
                                        tenant=RateLimit(per_second=100, burst=100))}


@pytest.fixture(scope="module")
async def limited_app(stack):
    svc = await open_services(api_args(stack.settings).model_copy(
        update={"rate_limits": LIMITS, "webhook_secrets": {TENANT: SECRET}}), model_servers={})
    clients = []

    def client_for(user: str) -> httpx.AsyncClient:
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://fleetray", headers={
            "Authorization": f"Bearer {token_for(stack.settings.auth, user, TENANT)}"})
        clients.append(client)
        return client
    app = create_app(svc)
    yield client_for
    for client in clients:
        await client.aclose()
    await svc.pool.close()


async def test_a_user_over_its_rate_gets_429_and_another_user_goes_on(limited_app, make_client):
    booking = await create_booking(make_client("ann", tenant=TENANT))  # through the served stack
    ann, bea = limited_app("ann"), limited_app("bea")
    answers = [await ann.get(f"/v1/bookings/{booking['booking_id']}") for _ in range(7)]
    assert [a.status_code for a in answers[:5]] == [200] * 5
    refused = answers[5]
    assert refused.status_code == 429 and refused.json()["error"] == "RATE_LIMITED", refused.text
    assert 1 <= int(refused.headers["Retry-After"]) <= 5 / PER_SECOND
    other = await bea.get(f"/v1/bookings/{booking['booking_id']}")
    assert other.status_code == 403, other.text  # answered (not hers to read), not rate limited


async def test_a_refused_cancel_changes_nothing(limited_app, make_client, pool):
    booking = await create_booking(make_client("cid", tenant=TENANT))
    cid = limited_app("cid")
    for _ in range(5):
        assert (await cid.get(f"/v1/bookings/{booking['booking_id']}")).status_code == 200
    refused = await cid.post(f"/v1/bookings/{booking['booking_id']}/cancel", json={"reason": "other"})
    assert refused.status_code == 429
    assert await pool.fetchval("SELECT status FROM bookings WHERE id = $1::uuid", booking["booking_id"]) == "confirmed"


def readings(n: int = 2) -> dict:
    at = datetime.now(timezone.utc)
    return {"readings": [{"pid": "RPM", "value": 900.0 + i, "captured_at": (at + timedelta(milliseconds=i)).isoformat()}
                         for i in range(n)]}


async def test_a_vehicle_over_its_ingest_rate_is_refused_while_the_others_are_stored(limited_app, make_client, pool):
    noisy, quiet = await register(make_client, tenant=TENANT), await register(make_client, tenant=TENANT)
    gateway = limited_app("gateway")
    statuses = [(await gateway.post(f"/v1/vehicles/{noisy}/telemetry", json=readings())).status_code for _ in range(5)]
    assert statuses == [202, 202, 202, 429, 429]
    assert (await gateway.post(f"/v1/vehicles/{quiet}/telemetry", json=readings())).status_code == 202
    stored = dict(await pool.fetch("SELECT vehicle_id, count(*) FROM telemetry WHERE vehicle_id = ANY($1) GROUP BY 1",
                                   [noisy, quiet]))
    assert stored == {noisy: 6, quiet: 2}


async def test_signed_webhook_deliveries_count_per_vehicle(limited_app, make_client):
    vehicle_id = await register(make_client, tenant=TENANT)
    provider = limited_app("unused")  # the webhook ignores the bearer token; the signature names the tenant

    async def deliver() -> int:
        body = json.dumps({"vehicle_id": vehicle_id, **readings(1)}).encode()
        stamp = str(int(time.time()))
        response = await provider.post(f"/v1/webhooks/telematics/{TENANT}", content=body, headers={
            "X-Fleetray-Timestamp": stamp, "X-Fleetray-Signature": signature(SECRET, stamp, body),
            "Content-Type": "application/json"})
        return response.status_code
    assert [await deliver() for _ in range(4)] == [202, 202, 202, 429]
