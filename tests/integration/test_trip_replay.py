"""Simulated trips played through a real ELM327-emulator: python-obd reads back the values the
replay encoded (to the PID's resolution), and the demo stories hold a failing engine and
healthy ones."""

import asyncio

import numpy as np
import pytest

from device_bridge.obd_reader import AdapterConfig, AdapterReader
from device_bridge.trip_replay import DEGRADING_LEAD_DAYS, DEMO_FLEET, ENCODINGS, demo_stories, obd_answer
from ml.simulator import PIDS, SAMPLES_PER_DAY, simulate
from tests.helpers import wait_until

pytestmark = pytest.mark.integration
SAMPLE = {"RPM": 2345.5, "SPEED": 57.0, "ENGINE_LOAD": 43.2, "THROTTLE_POS": 18.0, "COOLANT_TEMP": 97.4,
          "CONTROL_MODULE_VOLTAGE": 13.912, "INTAKE_TEMP": 21.0, "FUEL_LEVEL": 64.3}


def test_every_simulated_pid_has_an_encoding():
    assert set(ENCODINGS) == set(PIDS)


async def test_python_obd_reads_back_what_the_replay_encodes(adapter):
    adapter.set_answers({pid: obd_answer(pid, value) for pid, value in SAMPLE.items()})
    latest = {}
    reader = AdapterReader(AdapterConfig("replayed", adapter.port, fast_hz=10, slow_hz=5, dtc_seconds=60,
                                         connect_timeout=2),
                           lambda r: latest.__setitem__(r.pid, r.value), lambda report: None)
    task = asyncio.ensure_future(reader.run())
    try:
        async def all_read():
            return set(SAMPLE) <= set(latest) or None
        await wait_until(all_read, timeout=30)
    finally:
        task.cancel()
    for pid, value in SAMPLE.items():
        _, scale, _ = ENCODINGS[pid]
        assert latest[pid] == pytest.approx(value, abs=0.5 / scale + 1e-9), pid


def test_demo_stories_replay_a_failing_engine_before_healthy_ones():
    fleet = simulate(DEMO_FLEET)
    failing, *healthy = demo_stories(fleet, 3)
    assert fleet.in_service[failing.vehicle].sum() == failing.first_day + DEGRADING_LEAD_DAYS
    assert fleet.engine_severity[failing.vehicle, -1] >= 1 and len(healthy) == 2
    assert all(not fleet.engine_severity[s.vehicle].any() for s in healthy)

    assert failing.day_of(0) == (failing.first_day, 0)
    assert failing.day_of(SAMPLES_PER_DAY + 5) == (failing.first_day + 1, 5)
    assert failing.day_of(DEGRADING_LEAD_DAYS * SAMPLES_PER_DAY) == (failing.first_day, 0), "loops"
    assert np.isfinite(fleet.signals["RPM"][failing.vehicle, failing.first_day]).any()
