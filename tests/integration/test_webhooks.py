"""Signed telematics webhooks on the real actors and PostgreSQL: a correctly signed delivery is
stored like a gateway's batch; a bad signature, a stale timestamp or another tenant's vehicle
stores nothing.

The session stack holds only the demo tenant's local webhook secret, so most tests serve the
same app (create_app) in-process, with services opened on the stack's actors and database and
secrets of their own; one test checks that the served API routes webhooks past bearer auth."""

import json
import time

import httpx
import pytest

from cluster.deploy import api_args
from serve_apps.ingress import create_app
from serve_apps.services import open_services
from serve_apps.webhooks import MAX_SKEW_SECONDS, signature
from tests.helpers import unique
from tests.integration.test_vehicle_api import register

pytestmark = pytest.mark.integration

TENANT, OTHER_TENANT = unique("hooks"), unique("hooks-other")
SECRETS = {TENANT: "tenant-secret-for-tests", OTHER_TENANT: "other-secret-for-tests"}


def delivery(vehicle_id: str, n: int = 3) -> bytes:
    return json.dumps({"vehicle_id": vehicle_id, "readings": [
        {"pid": "SPEED", "value": 40.0 + i, "unit": "kph", "captured_at": f"2026-11-23T12:00:0{i}Z"}
        for i in range(n)]}).encode()


def signed(body: bytes, secret: str = SECRETS[TENANT], skew: float = 0) -> dict[str, str]:
    timestamp = str(int(time.time() + skew))
    return {"X-Fleetray-Timestamp": timestamp, "X-Fleetray-Signature": signature(secret, timestamp, body),
            "Content-Type": "application/json"}


@pytest.fixture(scope="module")
async def provider(stack):
    """An HTTP client of the ingress app whose arguments hold SECRETS."""
    svc = await open_services(api_args(stack.settings).model_copy(update={"webhook_secrets": SECRETS}),
                              model_servers={})
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(svc)), base_url="http://fleetray")
    yield client
    await client.aclose()
    await svc.pool.close()


async def stored(make_client, vehicle_id: str, tenant: str = TENANT) -> list[float]:
    viewer = make_client("viewer", tenant=tenant)
    response = await viewer.get(f"/v1/vehicles/{vehicle_id}/telemetry")
    assert response.status_code == 200, response.text
    return sorted(point["value"] for point in response.json())


async def test_a_signed_delivery_is_accepted_stored_and_live(make_client, provider):
    vehicle_id = await register(make_client, tenant=TENANT)
    body = delivery(vehicle_id)
    response = await provider.post(f"/v1/webhooks/telematics/{TENANT}", content=body, headers=signed(body))
    assert response.status_code == 202, response.text
    assert response.json() == {"accepted": 3}
    assert await stored(make_client, vehicle_id) == [40.0, 41.0, 42.0]
    live = (await make_client("viewer", tenant=TENANT).get(f"/v1/vehicles/{vehicle_id}")).json()
    assert live["readings"]["SPEED"]["value"] == 42.0 and live["readings"]["SPEED"]["unit"] == "kph"


async def test_bad_signatures_and_stale_timestamps_are_401_and_store_nothing(make_client, provider):
    vehicle_id = await register(make_client, tenant=TENANT)
    body = delivery(vehicle_id)
    url = f"/v1/webhooks/telematics/{TENANT}"
    bearer = make_client("ops", tenant=TENANT, role="operator").headers["Authorization"]
    attempts = {
        "no signature": {"Content-Type": "application/json"},
        "a bearer token instead": {"Authorization": bearer},
        "wrong secret": signed(body, secret="guessed"),
        "another tenant's secret": signed(body, secret=SECRETS[OTHER_TENANT]),
        "stale": signed(body, skew=-MAX_SKEW_SECONDS - 5),
        "from the future": signed(body, skew=MAX_SKEW_SECONDS + 5),
    }
    for why, headers in attempts.items():
        response = await provider.post(url, content=body, headers=headers)
        assert response.status_code == 401, (why, response.text)
        assert response.json()["error"] == "UNAUTHENTICATED", why
    tampered = body.replace(b"40.0", b"99.0")
    response = await provider.post(url, content=tampered, headers=signed(body))
    assert response.status_code == 401 and response.json()["error"] == "UNAUTHENTICATED"
    assert await stored(make_client, vehicle_id) == []


async def test_a_tenant_without_a_secret_cannot_be_posted_to(provider):
    body = delivery(unique("van"))
    response = await provider.post("/v1/webhooks/telematics/no-such-tenant", content=body, headers=signed(body))
    assert response.status_code == 401 and response.json()["error"] == "UNAUTHENTICATED"


async def test_unknown_and_other_tenants_vehicles_are_404(make_client, provider):
    foreign = await register(make_client, tenant=OTHER_TENANT)
    for vehicle_id in (foreign, unique("van")):
        body = delivery(vehicle_id)
        response = await provider.post(f"/v1/webhooks/telematics/{TENANT}", content=body, headers=signed(body))
        assert response.status_code == 404, response.text
        assert response.json()["error"] == "NOT_FOUND"
    assert await stored(make_client, foreign, tenant=OTHER_TENANT) == []


async def test_a_signed_but_invalid_body_is_400(make_client, provider):
    vehicle_id = await register(make_client, tenant=TENANT)
    bad_pid = json.loads(delivery(vehicle_id))
    bad_pid["readings"][0]["pid"] = "rpm; drop table"
    for body in [b"{not json", json.dumps({"vehicle_id": vehicle_id, "readings": []}).encode(),
                 json.dumps(bad_pid).encode(), json.dumps({"readings": bad_pid["readings"][1:]}).encode()]:
        response = await provider.post(f"/v1/webhooks/telematics/{TENANT}", content=body, headers=signed(body))
        assert response.status_code == 400, (body, response.text)
        assert response.json()["error"] == "INVALID_REQUEST"
    assert await stored(make_client, vehicle_id) == []


async def test_the_served_api_lets_webhooks_past_bearer_auth(stack):
    """The session stack has no secrets: a signed request reaches the webhook (which refuses
    it), not the bearer check (which would ask for a token)."""
    body = delivery(unique("van"))
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=30) as anonymous:
        response = await anonymous.post("/v1/webhooks/telematics/demo", content=body, headers=signed(body))
    assert response.status_code == 401
    assert response.json() == {"error": "UNAUTHENTICATED", "message": "Invalid webhook signature"}
    assert "www-authenticate" not in response.headers
