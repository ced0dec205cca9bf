"""The audit log on the running stack: every state change through the API or the `fleetray`
command writes one record (who, tenant, address, action, target, outcome, request id), and
operators read their tenant's records with `GET /v1/audit`."""

import asyncio
import getpass
import json
import os
import socket
import sys
from datetime import datetime, timedelta, timezone

import pytest
import ray

from tests.helpers import create_booking, unique, wait_until

pytestmark = pytest.mark.integration

FLEETRAY = [sys.executable, "-m", "cluster.cli"]


async def audit_of(client, **filters) -> list[dict]:
    response = await client.get("/v1/audit", params=filters)
    assert response.status_code == 200, response.text
    return response.json()


async def records_once_written(client, count: int, **filters) -> list[dict]:
    """The records matching `filters` once `count` of them are written (the writer is behind the answer)."""
    async def written():
        found = await audit_of(client, **filters)
        return found if len(found) >= count else None
    return await wait_until(written, timeout=20)


@pytest.fixture
def tenant() -> str:
    return unique("audit")


@pytest.fixture
def operator(make_client, tenant):
    return make_client("ops", tenant=tenant, role="operator")


async def test_registering_a_vehicle_records_who_what_where_and_the_request(operator, tenant):
    vehicle_id = unique("van")
    response = await operator.post("/v1/vehicles", json={"vehicle_id": vehicle_id, "name": "Van"},
                                   headers={"x-request-id": f"req-{vehicle_id}"})
    assert response.status_code == 201, response.text
    [record] = await records_once_written(operator, 1, target_id=vehicle_id)
    assert {k: record[k] for k in ("action", "tenant_id", "user_id", "ip_address", "target_type", "outcome",
                                   "request_id")} == {
        "action": "register_vehicle", "tenant_id": tenant, "user_id": "ops", "ip_address": "127.0.0.1",
        "target_type": "vehicle", "outcome": "ok", "request_id": f"req-{vehicle_id}"}


async def test_each_booking_change_is_recorded_with_its_outcome(make_client, operator, tenant):
    rider = make_client("rider", tenant=tenant)
    booking_id = (await create_booking(rider))["booking_id"]
    cancel = {"reason": "change_of_plans"}
    assert (await rider.post(f"/v1/bookings/{booking_id}/cancel", json=cancel)).status_code == 200
    assert (await rider.post(f"/v1/bookings/{booking_id}/cancel", json=cancel)).status_code == 200
    assert (await operator.post(f"/v1/bookings/{booking_id}/complete")).status_code == 400  # cancelled already
    records = await records_once_written(operator, 4, target_id=booking_id)
    assert [(r["action"], r["user_id"], r["outcome"]) for r in reversed(records)] == [
        ("create_booking", "rider", "ok"), ("cancel_booking", "rider", "cancelled"),
        ("cancel_booking", "rider", "already_cancelled"), ("complete_booking", "ops", "INVALID_STATUS")]


async def test_a_refused_attempt_is_recorded_with_the_code_it_was_answered(make_client, operator, tenant):
    rider = make_client("rider", tenant=tenant)
    vehicle_id = unique("van")
    assert (await rider.post("/v1/vehicles", json={"vehicle_id": vehicle_id, "name": "Van"})).status_code == 403
    booking_id = (await create_booking(rider))["booking_id"]
    assert (await rider.post(f"/v1/bookings/{booking_id}/cancel", json={"reason": "bored"})).status_code == 400
    [forbidden] = await records_once_written(operator, 1, target_id=vehicle_id)
    [invalid] = await records_once_written(operator, 1, action="cancel_booking", target_id=booking_id)
    assert (forbidden["action"], forbidden["outcome"]) == ("register_vehicle", "FORBIDDEN")
    assert invalid["outcome"] == "INVALID_REASON"


async def test_a_brake_pad_change_is_recorded(operator):
    vehicle_id = unique("van")
    assert (await operator.post("/v1/vehicles", json={"vehicle_id": vehicle_id, "name": "Van"})).status_code == 201
    assert (await operator.post(f"/v1/vehicles/{vehicle_id}/brake-pad-changes", json={})).status_code == 201
    [record] = await records_once_written(operator, 1, action="record_brake_pad_change", target_id=vehicle_id)
    assert record["outcome"] == "ok"


async def test_operators_read_only_their_tenants_records(make_client, operator, tenant):
    await create_booking(make_client("rider", tenant=tenant))
    await records_once_written(operator, 1, actor="rider")
    stranger = make_client("ops", tenant=unique("audit-other"), role="operator")
    assert [r for r in await audit_of(stranger, limit=1000) if r["tenant_id"] == tenant] == []
    assert {r["tenant_id"] for r in await audit_of(operator, limit=1000)} <= {tenant, "*"}


async def test_only_operators_read_the_audit_log(make_client, tenant):
    response = await make_client("rider", tenant=tenant).get("/v1/audit")
    assert response.status_code == 403 and response.json()["error"] == "FORBIDDEN"


async def test_filters_by_actor_action_and_time_and_pages_back(make_client, operator, tenant):
    rider, other = make_client("rider", tenant=tenant), make_client("other", tenant=tenant)
    for _ in range(3):
        await create_booking(rider)
    await create_booking(other)
    mine = await records_once_written(operator, 3, actor="rider", action="create_booking")
    assert len(mine) == 3 and {r["user_id"] for r in mine} == {"rider"}
    first_page = await audit_of(operator, actor="rider", limit=2)
    second_page = await audit_of(operator, actor="rider", limit=2, before=first_page[-1]["id"])
    assert [r["id"] for r in first_page + second_page] == [r["id"] for r in mine]
    later = (datetime.now(timezone.utc) + timedelta(minutes=1)).isoformat()
    assert await audit_of(operator, actor="rider", **{"from": later}) == []
    assert len(await audit_of(operator, actor="rider", to=later)) == 3


@pytest.mark.parametrize("query", [{"before": 2**63}, {"actor": "nul\x00"}, {"from": "yesterday"},
                                   {"action": "DROP TABLE"}, {"limit": 0}])
async def test_a_bad_filter_is_a_400(operator, query):
    response = await operator.get("/v1/audit", params=query)
    assert response.status_code == 400 and response.json()["error"] == "INVALID_REQUEST", response.text


async def fleetray(database_url: str, *args: str) -> str:
    env = {**os.environ, "DATABASE_URL": database_url, "RAY_ADDRESS": ray.get_runtime_context().gcs_address}
    process = await asyncio.create_subprocess_exec(*FLEETRAY, *args, env=env, stdout=asyncio.subprocess.PIPE,
                                                   stderr=asyncio.subprocess.STDOUT)
    output, _ = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode == 0, output.decode()
    return output.decode()


async def test_a_flag_set_with_the_cli_is_recorded_for_every_tenant(database_url, operator):
    flag = unique("audit_flag").replace("-", "_")
    await fleetray(database_url, "flag", flag, "--percentage", "40")
    [record] = await records_once_written(operator, 1, action="set_flag", target_id=flag)
    assert (record["tenant_id"], record["target_type"], record["outcome"]) == ("*", "flag", "ok")
    assert record["user_id"] == f"{getpass.getuser()}@{socket.gethostname()}"


async def test_an_administrators_change_to_every_tenant_reaches_operators_without_its_address(make_client, operator):
    admin = make_client("audit-admin", tenant=unique("platform"), role="admin")
    model = unique("no-such-model")
    assert (await admin.post(f"/v1/models/{model}/rollback")).status_code == 404
    [seen] = await records_once_written(operator, 1, action="rollback_model", target_id=model)
    assert (seen["tenant_id"], seen["user_id"], seen["outcome"], seen["ip_address"]) == (
        "*", "audit-admin", "NOT_FOUND", None)
    [own] = await records_once_written(admin, 1, action="rollback_model", target_id=model)
    assert own["ip_address"] == "127.0.0.1"


async def test_attaching_and_removing_a_bridge_with_the_cli_is_recorded(database_url, make_client, adapter,
                                                                        tmp_path, tenant):
    stem, vehicle_id = unique("audited"), unique("car")
    adapters = tmp_path / f"{stem}.yaml"
    adapters.write_text(json.dumps({"adapters": [{"vehicle_id": vehicle_id, "tenant_id": tenant,
                                                  "port": adapter.port, "fast_hz": 5}]}))
    await fleetray(database_url, "bridge", "--config", str(adapters), "--detach")
    await fleetray(database_url, "bridge", "--config", str(adapters), "--remove")
    operator = make_client("ops", tenant=tenant, role="operator")
    records = [r for r in await records_once_written(operator, 3) if r["tenant_id"] == tenant]
    assert [(r["action"], r["target_id"], r["outcome"]) for r in reversed(records)] == [
        ("attach_bridges", stem, "ok"), ("register_vehicle", vehicle_id, "ok"), ("remove_bridges", stem, "ok")]
