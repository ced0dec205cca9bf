"""db/search.py on a real PostgreSQL with pg_trgm, and GET /v1/search on the running stack:
vehicles found by name (typos tolerated), by part of their id or VIN, and by the codes they
have open (typos in descriptions tolerated), facets counted over everything found, filters
narrowing the list, other tenants never seen."""

from datetime import datetime, timezone

import pytest

from db import vehicles as repo
from db.search import SearchFilters, search
from tests.helpers import unique

pytestmark = pytest.mark.integration

NOW = datetime(2026, 12, 4, 8, tzinfo=timezone.utc)
MISFIRE = {"P0301": "Cylinder 1 Misfire Detected"}


@pytest.fixture
async def fleet(private_pool):
    """A tenant with three vehicles (one misfiring, one with a lean code) and a neighbour
    tenant with the same code."""
    tenant, neighbour = unique("search"), unique("other")
    for vehicle_id, name, vin, owner in [
            ("van-1", "Blue Transit", "1FTBW3XM5HKA12345", tenant),
            ("van-2", "Red Sprinter", "WDB9066331S123456", tenant),
            ("car-9", "Grey Corolla", None, tenant),
            ("van-77", "Blue Transit", None, neighbour)]:
        vehicle_id = f"{owner}-{vehicle_id}"
        await repo.insert_vehicle(private_pool, vehicle_id=vehicle_id, tenant_id=owner, name=name, vin=vin, adapter={})
    await repo.record_standing(private_pool, f"{tenant}-van-1", "connected", 85.0)
    await repo.record_standing(private_pool, f"{tenant}-van-2", "disconnected", 40.0)
    async with private_pool.acquire() as conn:
        await repo.record_dtc_report(conn, vehicle_id=f"{tenant}-van-2", tenant_id=tenant, codes=MISFIRE, at=NOW)
        await repo.record_dtc_report(conn, vehicle_id=f"{tenant}-car-9", tenant_id=tenant,
                                     codes={"P0171": "System Too Lean (Bank 1)"}, at=NOW)
        await repo.record_dtc_report(conn, vehicle_id=f"{neighbour}-van-77", tenant_id=neighbour, codes=MISFIRE, at=NOW)
    return tenant, neighbour


async def found(pool, tenant, text, filters=SearchFilters(), limit=20):
    return await search(pool, tenant, text, filters, limit)


def ids(result, tenant) -> list[str]:
    return [v["vehicle_id"].removeprefix(f"{tenant}-") for v in result.vehicles]


async def test_a_vehicle_is_found_by_its_name_with_a_typo(private_pool, fleet):
    tenant, _ = fleet
    assert ids(await found(private_pool, tenant, "sprintr"), tenant) == ["van-2"]


async def test_a_vehicle_is_found_by_part_of_its_vin(private_pool, fleet):
    tenant, _ = fleet
    assert ids(await found(private_pool, tenant, "1FTBW3XM"), tenant) == ["van-1"]


async def test_a_vehicle_is_found_by_part_of_its_id(private_pool, fleet):
    tenant, _ = fleet
    assert ids(await found(private_pool, tenant, "CAR-9"), tenant) == ["car-9"]


async def test_wildcards_in_the_text_are_taken_literally(private_pool, fleet):
    tenant, _ = fleet
    assert (await found(private_pool, tenant, "%")).vehicles_found == 0


async def test_a_code_prefix_finds_the_code_its_description_and_the_vehicles_with_it_open(private_pool, fleet):
    tenant, _ = fleet
    result = await found(private_pool, tenant, "P03")
    assert result.trouble_codes == [{"code": "P0301", "description": "Cylinder 1 Misfire Detected", "vehicles": 1}]
    assert ids(result, tenant) == ["van-2"]


async def test_a_description_with_a_typo_finds_its_code(private_pool, fleet):
    tenant, _ = fleet
    assert [c["code"] for c in (await found(private_pool, tenant, "misfre")).trouble_codes] == ["P0301"]


async def test_facets_count_every_vehicle_found_and_filters_narrow_only_the_list(private_pool, fleet):
    tenant, _ = fleet
    everything = await found(private_pool, tenant, "van")
    assert (everything.vehicles_found, everything.connection["connected"], everything.connection["disconnected"]) == (
        2, 1, 1)
    assert (everything.health["good"], everything.health["poor"]) == (1, 1)
    narrowed = await found(private_pool, tenant, "van", SearchFilters(health=("poor",)))
    assert ids(narrowed, tenant) == ["van-2"] and narrowed.health == everything.health


async def test_a_code_filter_lists_the_vehicles_with_that_code_open(private_pool, fleet):
    tenant, _ = fleet
    assert ids(await found(private_pool, tenant, "van", SearchFilters(codes=("P0301",))), tenant) == ["van-2"]


async def test_another_tenants_vehicles_and_codes_are_never_found(private_pool, fleet):
    tenant, neighbour = fleet
    theirs = await found(private_pool, neighbour, "transit")
    assert [v["vehicle_id"] for v in theirs.vehicles] == [f"{neighbour}-van-77"]
    assert [c["code"] for c in (await found(private_pool, neighbour, "lean")).trouble_codes] == []


async def test_a_query_that_matches_nothing_finds_nothing(private_pool, fleet):
    tenant, _ = fleet
    result = await found(private_pool, tenant, "zzqqxx")
    assert (result.vehicles, result.trouble_codes, result.vehicles_found) == ([], [], 0)


async def test_the_api_finds_a_code_its_vehicles_reported_through_their_entities(stack, make_client):
    from actors.topology import vehicle_router
    from actors.vehicle import VehicleClient
    from device_bridge.registration import ensure_vehicle

    tenant = unique("search-api")
    vehicles = VehicleClient(vehicle_router())
    for vehicle_id in (f"{tenant}-a", f"{tenant}-b"):
        await ensure_vehicle(vehicles, vehicle_id, tenant, "Van", {"port": "/dev/null"})
    assert await vehicles.ingest_many(tenant, {f"{tenant}-a": {
        "readings": [("RPM", 800.0, None, NOW)], "reports": [(MISFIRE, NOW)]}}) == {}
    client = make_client("boss", tenant=tenant)

    response = await client.get("/v1/search", params={"q": "P03"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["trouble_codes"] == [{"code": "P0301", "description": "Cylinder 1 Misfire Detected", "vehicles": 1}]
    assert [v["vehicle_id"] for v in body["vehicles"]] == [f"{tenant}-a"]
    assert body["facets"] == {"codes": {"P0301": 1}, "health": {"good": 1, "fair": 0, "poor": 0},
                              "connection": {"connected": 1, "connecting": 0, "disconnected": 0, "unknown": 0}}
    connected = (await client.get("/v1/search", params={"q": "van", "facet": ["connection:unknown"]})).json()
    assert (connected["vehicles_found"], [v["vehicle_id"] for v in connected["vehicles"]]) == (2, [f"{tenant}-b"])
    stranger = make_client("someone", tenant=unique("elsewhere"))
    assert (await stranger.get("/v1/search", params={"q": "P03"})).json()["trouble_codes"] == []


@pytest.mark.parametrize("params", [{}, {"q": ""}, {"q": "x" * 101}, {"q": "van", "facet": "colour:red"},
                                    {"q": "van", "facet": "health:excellent"}, {"q": "van", "limit": 0},
                                    {"q": "van", "facet": "code:"}, {"q": "van", "facet": ["health:good"] * 11}, {"q": "!!! ---"}])
async def test_a_search_the_api_cannot_run_is_400_with_an_error_body(stack, make_client, params):
    response = await make_client("boss", tenant=unique("search-bad")).get("/v1/search", params=params)
    assert response.status_code == 400 and response.json()["error"] == "INVALID_REQUEST", response.text
