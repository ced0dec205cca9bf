"""Freeze frames: python-obd reads the mode-02 snapshot from a real ELM327-emulator when a new
trouble code appears, and the trouble-code history stores it for the occurrence it opened and
returns it through the API."""

import asyncio
from datetime import datetime, timedelta, timezone

import pytest

from db import vehicles as repo
from device_bridge.obd_reader import AdapterConfig, AdapterReader
from tests.helpers import unique, wait_until

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 23, 12, tzinfo=timezone.utc)
MISFIRE = {"P0301": "Cylinder 1 Misfire Detected"}
FRAME = {"RPM": {"value": 1726.0, "unit": "revolutions_per_minute"},
         "SPEED": {"value": 50.0, "unit": "kilometer_per_hour"},
         "COOLANT_TEMP": {"value": 83.0, "unit": "degree_Celsius"}}


async def test_a_new_code_comes_with_its_freeze_frame_and_an_old_one_without(adapter):
    reports = []
    reader = AdapterReader(AdapterConfig("veh-ff", adapter.port, fast_hz=2, slow_hz=1, dtc_seconds=0.3,
                                         connect_timeout=2), lambda r: None, reports.append)
    task = asyncio.ensure_future(reader.run())
    try:
        await wait_until(lambda: _truthy(reports), timeout=30)
        assert reports[0].codes == () and reports[0].freeze_frames == {}
        # Every other PID of the car scenario answers mode 02 negatively: none may show up.
        adapter.set_freeze_frame({"RPM": "1A F8", "SPEED": "32", "COOLANT_TEMP": "7B"})
        adapter.set_trouble_codes(["P0301"])
        first = await wait_until(lambda: _truthy(next((r for r in reports if r.codes), None)), timeout=15)
        assert dict(first.codes) == MISFIRE
        assert first.freeze_frames == {"P0301": FRAME}
        seen = len(reports)
        await wait_until(lambda: _truthy(len(reports) > seen), timeout=10)
        assert dict(reports[-1].codes) == MISFIRE and reports[-1].freeze_frames == {}, "still stored: not new"
    finally:
        task.cancel()


async def test_the_history_keeps_the_frame_of_the_occurrence_it_opened(pool, stack, make_client):
    operator = make_client("ops", tenant="fleet-ff", role="operator")
    vehicle_id = unique("van")
    response = await operator.post("/v1/vehicles", json={"vehicle_id": vehicle_id, "name": "Van"})
    assert response.status_code == 201, response.text
    later = {"P0301": {"RPM": {"value": 900.0, "unit": "revolutions_per_minute"}}}
    async with pool.acquire() as conn:
        for at, frames in [(T0, {"P0301": FRAME}), (T0 + timedelta(seconds=10), later)]:
            await repo.record_dtc_report(conn, vehicle_id=vehicle_id, tenant_id="fleet-ff", codes=MISFIRE,
                                         at=at, freeze_frames=frames)
        await repo.record_dtc_report(conn, vehicle_id=vehicle_id, tenant_id="fleet-ff", codes={"P0420": "x"},
                                     at=T0 + timedelta(seconds=20))

    dtcs = (await make_client("driver", tenant="fleet-ff").get(f"/v1/vehicles/{vehicle_id}/dtcs")).json()
    by_code = {entry["code"]: entry for entry in dtcs["history"]}
    assert by_code["P0301"]["freeze_frame"] == FRAME, "the frame of the opening report, not a later one"
    assert by_code["P0301"]["cleared_at"] is not None
    assert by_code["P0420"]["freeze_frame"] is None
    assert [entry["code"] for entry in dtcs["active"]] == ["P0420"]


async def _truthy(value):
    return value
