"""Model deployments on the real stack: small models of every family are trained, registered and
promoted by the same code `make run` uses when the registry is empty, served by their Ray Serve
deployments and called over HTTP. Predictions match the trained models; wrong shapes get a 400
naming the problem; promotion, canary and rollback under traffic fail no request; a corrupted
artifact is refused while the serving version keeps serving; administrators, and only they,
promote and roll back over HTTP."""

import asyncio
import json
from collections import Counter

import numpy as np
import pytest

from ml import train
from ml.datasets import FAMILIES, SEEN, family_dataset
from ml.deployments import model_server_handle
from ml.features import BRAKE_FEATURES, ENGINE_HISTORY_DAYS, ENGINE_SUMMARIES, INPUT_NAMES
from ml.inputs import to_instances
from ml.registry import CorruptArtifact
from ml.simulator import FleetConfig, simulate
from tests.helpers import wait_until

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def examples():
    """A few vehicle-days of a fleet no model saw, per family, spread over its vehicles and days
    (the engine's from a first day without history to 19 days of it): (model input, instances
    as JSON)."""
    fleet = simulate(FleetConfig(4, 20, seed=991, id_prefix="probe", **SEEN))
    out = {}
    for family in FAMILIES:
        x = family_dataset(family, fleet).x[::16][:5]
        out[family] = (x, to_instances(INPUT_NAMES[family], x))
    return out


async def local_predictions(model_registry, family, version, tmp_path, x):
    model, _ = train.load(await model_registry.fetch(family, version, tmp_path / f"{family}-{version}"))
    return model.predict(x)


@pytest.mark.parametrize("family", FAMILIES)
async def test_each_family_predicts_like_the_trained_model(family, served_models, model_registry, examples, make_client, tmp_path):
    x, instances = examples[family]
    response = await make_client().post(f"/v1/models/{family}/predict", json={"instances": instances})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["model"], body["version"], body["role"]) == (family, served_models[family], "stable")
    expected = await local_predictions(model_registry, family, served_models[family], tmp_path, x)
    for target, values in expected.items():
        np.testing.assert_allclose([p[target] for p in body["predictions"]], values, rtol=1e-5, atol=1e-5)
    if family == "engine":
        assert set(body["thresholds"]) == {"fails_soon"}


async def test_models_run_on_the_cpu_here_and_the_list_shows_what_serves(served_models, make_client):
    for family in FAMILIES:
        assert await model_server_handle(family).serving_device.remote() == "cpu"  # no GPU on this machine
    listing = (await make_client().get("/v1/models")).json()
    assert {m["model"]: m["stable_version"] for m in listing} == served_models


ROW = {name: 1.0 for name in BRAKE_FEATURES}
HISTORY = {summary: [1.0] * ENGINE_HISTORY_DAYS for summary in ENGINE_SUMMARIES}


@pytest.mark.parametrize("family, body, message", [
    ("battery", {"instances": []}, "at least one"),
    ("battery", {"instances": [{"rest_voltage": 12.5}]}, "instances[0]: missing crank_voltage"),
    ("brakes", {"instances": [ROW, {**ROW, "volts": 1}]}, "instances[1]: unknown volts"),
    ("brakes", {"instances": [{**ROW, "mean_speed": [1, 2]}]}, "instances[0].mean_speed: expected a number"),
    ("engine", {"instances": [{**HISTORY, "coolant_max": 95}]}, "instances[0].coolant_max: expected a list"),
    ("engine", {"instances": [{**HISTORY, "coolant_rise": [1.0] * 3}]},
     f"instances[0].coolant_rise: expected {ENGINE_HISTORY_DAYS} values, got 3"),
    ("brakes", {"instances": [{**ROW, "mean_speed": "fast"}]}, "instances.0.mean_speed"),
    ("brakes", {"rows": [ROW]}, "instances"),
])
async def test_wrong_shapes_get_a_400_naming_the_problem(family, body, message, served_models, make_client):
    response = await make_client().post(f"/v1/models/{family}/predict", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "INVALID_REQUEST" and message in response.json()["message"]


async def test_unknown_model_is_a_404(served_models, make_client):
    response = await make_client().post("/v1/models/gearbox/predict", json={"instances": [{}]})
    assert response.status_code == 404 and "gearbox" in response.json()["message"]


async def test_promote_canary_and_rollback_under_traffic_fail_no_request(served_models, model_registry, examples, make_client, tmp_path):
    """Four clients send battery predictions the whole time; the versions change under them."""
    family = "battery"
    v1 = served_models[family]
    artifact = await model_registry.fetch(family, v1, tmp_path / "copy")
    v2 = await model_registry.register(artifact)
    client, instances = make_client(), examples[family][1][:2]
    statuses: Counter = Counter()
    seen: list[int] = []
    stop = asyncio.Event()

    async def traffic():
        while not stop.is_set():
            response = await client.post(f"/v1/models/{family}/predict", json={"instances": instances})
            statuses[response.status_code] += 1
            if response.status_code == 200:
                seen.append(response.json()["version"])

    async def serves(version: int, share: float = 1.0):
        """Most of the last 40 answers come from `version` (all of them when share is 1)."""
        async def check():
            recent = seen[-40:]
            return len(recent) == 40 and abs(recent.count(version) / 40 - share) <= (0 if share == 1 else 0.3)
        await wait_until(check, timeout=30)

    workers = [asyncio.create_task(traffic()) for _ in range(4)]
    try:
        await serves(v1)
        await model_registry.promote(family, v2, traffic_pct=50)
        await serves(v2, share=0.5)
        await model_registry.promote(family, v2)
        await serves(v2)
        await model_registry.rollback(family)
        await serves(v1)
    finally:
        stop.set()
        await asyncio.gather(*workers)
    assert set(statuses) == {200}, statuses
    assert len(seen) > 100


def corrupt(path: str) -> None:
    with open(path, "r+b") as f:
        f.seek(100)
        f.write(b"\x00corrupt\x00")


async def test_corrupted_artifact_is_refused_and_the_stable_version_keeps_serving(
        served_models, model_registry, examples, make_client, tmp_path, stack):
    family = "brakes"
    artifact = await model_registry.fetch(family, served_models[family], tmp_path / "copy")
    broken = await model_registry.register(artifact)
    model_file = json.loads((artifact / "metadata.json").read_text())["model_files"]["wear_pct"]
    stored = (await model_registry.get(family, broken)).artifact_uri.removeprefix("file://")
    corrupt(f"{stored}/{model_file}")
    with pytest.raises(CorruptArtifact, match=model_file):
        await model_registry.promote(family, broken)
    client = make_client()
    response = await client.post(f"/v1/models/{family}/predict", json={"instances": examples[family][1]})
    assert response.status_code == 200 and response.json()["version"] == served_models[family]

    # A version corrupted after its promotion as a canary: its share falls back to the stable one.
    canary = await model_registry.register(artifact)
    await model_registry.promote(family, canary, traffic_pct=50)
    stored = (await model_registry.get(family, canary)).artifact_uri.removeprefix("file://")
    corrupt(f"{stored}/{model_file}")
    await asyncio.sleep(1.5)  # the API's view of what serves refreshes every second
    versions = []
    for _ in range(20):
        response = await client.post(f"/v1/models/{family}/predict", json={"instances": examples[family][1][:1]})
        assert response.status_code == 200, response.text
        versions.append(response.json()["version"])
    assert set(versions) == {served_models[family]}
    await model_registry.rollback(family)



async def test_an_administrator_promotes_a_canary_and_rolls_it_back_over_http(
        served_models, model_registry, make_client, tmp_path, pool):
    family = "engine"
    v1 = served_models[family]
    v2 = await model_registry.register(await model_registry.fetch(family, v1, tmp_path / "copy"))
    admin = make_client("canary-admin", tenant="ops", role="admin")
    versions = (await admin.get(f"/v1/models/{family}/versions")).json()
    assert {v["version"]: v["status"] for v in versions if v["version"] in (v1, v2)} == {v1: "stable", v2: "registered"}

    promoted = await admin.post(f"/v1/models/{family}/promote", json={"version": v2, "traffic_pct": 30})
    assert promoted.status_code == 200, promoted.text
    assert promoted.json() == {"model": family, "stable_version": v1, "canary_version": v2, "canary_traffic_pct": 30}
    listing = {m["model"]: m for m in (await admin.get("/v1/models")).json()}
    assert (listing[family]["canary_version"], listing[family]["canary_traffic_pct"]) == (v2, 30)

    rolled_back = await admin.post(f"/v1/models/{family}/rollback")
    assert rolled_back.status_code == 200, rolled_back.text
    assert rolled_back.json() == {"model": family, "stable_version": v1, "canary_version": None, "canary_traffic_pct": 0}

    async def audited():
        rows = await pool.fetch("SELECT action, tenant_id, user_id, target_id, outcome FROM audit_log"
                                " WHERE user_id = 'canary-admin' ORDER BY id")
        return [tuple(r) for r in rows] if len(rows) == 2 else None
    assert await wait_until(audited) == [("promote_model", "*", "canary-admin", f"{family}/{v2}", "ok"),
                                         ("rollback_model", "*", "canary-admin", family, "ok")]


@pytest.mark.parametrize("role", ["user", "operator"])
async def test_only_administrators_change_what_serves_a_model(served_models, make_client, role):
    family = "battery"
    client = make_client(f"model-{role}", role=role)
    before = (await client.get("/v1/models")).json()
    for path, body in ((f"/v1/models/{family}/promote", {"version": served_models[family]}),
                       (f"/v1/models/{family}/rollback", None)):
        response = await client.post(path, json=body)
        assert response.status_code == 403, response.text
        assert response.json() == {"error": "FORBIDDEN",
                                   "message": "Only administrators can change the models every tenant is served"}
    assert (await client.get("/v1/models")).json() == before


@pytest.mark.parametrize("path, body, status, error", [
    ("/v1/models/battery/promote", {"version": 999_999}, 404, "NOT_FOUND"),
    ("/v1/models/gearbox/promote", {"version": 1}, 404, "NOT_FOUND"),
    ("/v1/models/gearbox/versions", None, 404, "NOT_FOUND"),
    ("/v1/models/battery/promote", {"version": 1, "traffic_pct": 0}, 400, "INVALID_REQUEST"),
    ("/v1/models/battery/promote", {"version": 1, "traffic_pct": 101}, 400, "INVALID_REQUEST"),
    ("/v1/models/battery/promote", {"traffic_pct": 50}, 400, "INVALID_REQUEST"),
])
async def test_model_changes_that_cannot_be_made_are_refused_with_their_reason(
        served_models, make_client, path, body, status, error):
    admin = make_client("model-admin", role="admin")
    response = await (admin.get(path) if body is None else admin.post(path, json=body))
    assert (response.status_code, response.json()["error"]) == (status, error), response.text


async def test_the_stable_version_cannot_also_be_its_canary(served_models, make_client):
    family = "brakes"
    admin = make_client("model-admin", role="admin")
    response = await admin.post(f"/v1/models/{family}/promote",
                                json={"version": served_models[family], "traffic_pct": 20})
    assert response.status_code == 409
    assert response.json() == {"error": "CONFLICT",
                               "message": f"{family} v{served_models[family]} is already the stable version"}
