"""Synthetic vehicles for load tests: plausible OBD-II readings for thousands of vehicles, fed
into a bridge's ReadingBatcher, the same batch path adapter readers use, with no serial ports.

Each vehicle sample is the fast PID group (RPM, speed, engine load, throttle) and, every tenth
sample, one of the slow group; values random-walk within their physical ranges. captured_at is
the moment of generation, so downstream latency is measured from "capture".
"""

from __future__ import annotations

import asyncio
import random
from datetime import datetime, timezone
from typing import Any, Callable

import ray

from actors.background import BackgroundLoopActor
from actors.gc_tuning import tune_for_many_long_lived_objects
from actors.topology import vehicle_router
from actors.vehicle import VehicleClient
from db.readings import Reading
from device_bridge.batcher import ReadingBatcher
from device_bridge.bridge import DeviceBridge

# pid -> (unit as python-obd names it, low, high, step of the random walk)
FAST_PIDS = {
    "RPM": ("revolutions_per_minute", 700.0, 4000.0, 150.0),
    "SPEED": ("kilometer_per_hour", 0.0, 130.0, 4.0),
    "ENGINE_LOAD": ("percent", 10.0, 90.0, 5.0),
    "THROTTLE_POS": ("percent", 5.0, 80.0, 5.0),
}
SLOW_PIDS = {
    "COOLANT_TEMP": ("degree_Celsius", 80.0, 100.0, 1.0),
    "CONTROL_MODULE_VOLTAGE": ("volt", 12.4, 14.4, 0.1),
    "FUEL_LEVEL": ("percent", 5.0, 100.0, 0.2),
    "INTAKE_TEMP": ("degree_Celsius", 15.0, 45.0, 1.0),
}
SLOW_EVERY = 10
TICK_SECONDS = 0.05


class SyntheticFleet:
    def __init__(self, vehicle_ids: list[str], readings_per_second: float,
                 sink: Callable[[Reading], None], backlog: Callable[[], int] = lambda: 0,
                 max_backlog: int | None = None, seed: int = 7):
        self.vehicle_ids = vehicle_ids
        self.readings_per_second = readings_per_second
        self.sink = sink
        self.backlog = backlog
        self.max_backlog = max_backlog
        self.generated = 0
        self._random = random.Random(seed)
        self._values = {v: {pid: (lo + hi) / 2 for pid, (_, lo, hi, _) in {**FAST_PIDS, **SLOW_PIDS}.items()}
                        for v in vehicle_ids}
        self._samples = 0
        self._next_vehicle = 0

    def _value(self, vehicle_id: str, pid: str, spec: tuple[str, float, float, float]) -> float:
        _, lo, hi, step = spec
        values = self._values[vehicle_id]
        values[pid] = min(hi, max(lo, values[pid] + self._random.uniform(-step, step)))
        return values[pid]

    def sample(self, vehicle_id: str, now: datetime) -> None:
        """One sample of one vehicle into the sink."""
        for pid, spec in FAST_PIDS.items():
            self.sink(Reading(vehicle_id, pid, self._value(vehicle_id, pid, spec), spec[0], now))
        self.generated += len(FAST_PIDS)
        self._samples += 1
        if self._samples % SLOW_EVERY == 0:
            pid = list(SLOW_PIDS)[self._samples // SLOW_EVERY % len(SLOW_PIDS)]
            self.sink(Reading(vehicle_id, pid, self._value(vehicle_id, pid, SLOW_PIDS[pid]), SLOW_PIDS[pid][0], now))
            self.generated += 1

    async def run(self) -> None:
        """Generate at readings_per_second, vehicles in turn, in ticks of TICK_SECONDS; with
        max_backlog, skip ticks while the sink has that many readings queued (to find the
        highest rate the path sustains without spending the CPU on readings it would drop)."""
        loop = asyncio.get_running_loop()
        per_sample = len(FAST_PIDS) + 1 / SLOW_EVERY
        owed, last = 0.0, loop.time()
        while True:
            await asyncio.sleep(TICK_SECONDS)
            now_t = loop.time()
            owed += (now_t - last) * self.readings_per_second / per_sample
            last = now_t
            if self.max_backlog is not None and self.backlog() >= self.max_backlog:
                owed = 0.0
                continue
            now = datetime.now(timezone.utc)
            for _ in range(int(owed)):
                self.sample(self.vehicle_ids[self._next_vehicle], now)
                self._next_vehicle = (self._next_vehicle + 1) % len(self.vehicle_ids)
            owed -= int(owed)


@ray.remote(max_restarts=-1)
class SyntheticBridgeActor(BackgroundLoopActor):
    """A device bridge whose adapters are a SyntheticFleet (for `make bench-telemetry`)."""

    def __init__(self, tenant_id: str, vehicle_ids: list[str], readings_per_second: float,
                 max_backlog: int | None = None):
        vehicles = VehicleClient(vehicle_router())
        batcher = ReadingBatcher(max_batch=5000, max_queued=200_000)
        self.bridge = DeviceBridge(vehicles, tenant_id, [], batcher)
        self.fleet = SyntheticFleet(vehicle_ids, readings_per_second, batcher.add_reading,
                                    lambda: len(batcher.readings), max_backlog)
        tune_for_many_long_lived_objects()
        self.start_when_constructed()

    async def loop(self) -> None:
        await asyncio.gather(self.bridge.run(), self.fleet.run())

    async def stats(self) -> dict[str, int]:
        return {"generated": self.fleet.generated, "delivered": self.bridge.delivered,
                "dropped": self.bridge.batcher.dropped}
