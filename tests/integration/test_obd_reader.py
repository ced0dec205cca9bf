"""The OBD-II reader against real ELM327-emulator processes over pseudo-ttys (python-obd
speaking the real ELM327 protocol): values with units, VIN, trouble codes, and recovery after
the adapter is killed and restarted."""

import asyncio

import pytest

from device_bridge.obd_reader import AdapterConfig, AdapterReader
from tests.helpers import wait_until

pytestmark = pytest.mark.integration


async def test_reader_streams_values_with_units_and_recovers_after_the_adapter_restarts(adapter):
    readings, reports, statuses = [], [], []
    reader = AdapterReader(
        AdapterConfig("veh-1", adapter.port, fast_hz=10, slow_hz=2, dtc_seconds=1, connect_timeout=10),
        readings.append, reports.append, lambda vehicle, status: statuses.append(status))
    task = asyncio.ensure_future(reader.run())
    try:
        await wait_until(lambda: _has_pids(readings, {"RPM", "SPEED", "COOLANT_TEMP", "CONTROL_MODULE_VOLTAGE"}),
                         timeout=30)
        by_pid = {r.pid: r for r in readings}
        assert by_pid["RPM"].unit == "revolutions_per_minute"
        await wait_until(lambda: _truthy(any(r.value > 0 for r in readings if r.pid == "RPM")), timeout=15)
        assert by_pid["COOLANT_TEMP"].unit == "degree_Celsius"
        assert by_pid["CONTROL_MODULE_VOLTAGE"].unit == "volt"
        assert all(r.vehicle_id == "veh-1" for r in readings)
        assert reader.state.vin and "RPM" in reader.state.supported
        await wait_until(lambda: _truthy(reports), timeout=10)
        assert reports[0].codes == ()  # the emulated car has no stored codes

        adapter.stop()
        await wait_until(lambda: _truthy(reader.state.status == "disconnected"), timeout=30)
        seen = len(readings)
        adapter.start()
        await wait_until(lambda: _truthy(reader.state.status == "connected"), timeout=60)
        await wait_until(lambda: _truthy(len(readings) > seen + 5), timeout=30)
        # in this order, after any failed first attempts (a busy machine's emulator may answer late)
        reported = iter(statuses)
        assert all(status in reported for status in ("connected", "disconnected", "connected")), statuses
    finally:
        task.cancel()


async def _has_pids(readings, pids):
    return pids <= {r.pid for r in readings}


async def _truthy(value):
    return value
