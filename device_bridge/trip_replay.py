"""Simulated trips played through ELM327-emulator adapters, so the demo fleet drives like the
fleet the models were trained on (ml/simulator.py), degradation included, instead of the stock
emulator scenario's random answers (RPM jumping between 0 and 4,000, load at 100 %).

Each adapter replays one simulated vehicle, a day's trip after another, one sample every
SAMPLE_SECONDS: the emulator then answers each mode-01 PID with that sample's value, encoded as
an engine ECU would (the inverse of python-obd's decoders). A dropout (NaN) keeps the previous
answer. A simulated day is one trip of about four minutes, so a fault that takes weeks to grow
shows within an hour.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

import numpy as np
import obd

from device_bridge.emulator import EmulatedAdapter, ecu_answer
from ml.simulator import PIDS, SAMPLE_SECONDS, SAMPLES_PER_DAY, Fleet, FleetConfig, simulate

log = logging.getLogger(__name__)

# PID: (data bytes, scale, offset); the ECU sends round((value + offset) * scale)
ENCODINGS = {
    "RPM": (2, 4.0, 0.0),
    "SPEED": (1, 1.0, 0.0),
    "ENGINE_LOAD": (1, 2.55, 0.0),
    "THROTTLE_POS": (1, 2.55, 0.0),
    "COOLANT_TEMP": (1, 1.0, 40.0),
    "CONTROL_MODULE_VOLTAGE": (2, 1000.0, 0.0),
    "INTAKE_TEMP": (1, 1.0, 40.0),
    "FUEL_LEVEL": (1, 2.55, 0.0),
}


def obd_answer(pid: str, value: float) -> str:
    """The emulator's answer to a mode-01 request for `pid` reporting `value` (in its unit)."""
    size, scale, offset = ENCODINGS[pid]
    raw = int(np.clip(round((value + offset) * scale), 0, 256 ** size - 1))
    return ecu_answer(" ".join(f"{b:02X}" for b in (0x41, obd.commands[pid].pid, *raw.to_bytes(size, "big"))))


@dataclass(frozen=True)
class Story:
    """Which simulated vehicle an adapter replays: its days first_day to end_day (its failure,
    or the simulation's end; excluded), in a loop."""

    vehicle: int
    first_day: int
    end_day: int

    def day_of(self, step: int) -> tuple[int, int]:
        """(simulated day, sample) the story plays at replay step `step`."""
        return self.first_day + (step // SAMPLES_PER_DAY) % (self.end_day - self.first_day), step % SAMPLES_PER_DAY


# urban vans: some healthy, some whose engine degrades towards failure
DEMO_FLEET = FleetConfig(12, 80, climates=("temperate",), duties=("urban",), noise=(0.5, 0.5),
                         engine_fault_share=0.5, seed=2026, id_prefix="demo")
DEGRADING_LEAD_DAYS = 20  # replay a failing vehicle from this many days before its failure


def demo_stories(fleet: Fleet, count: int) -> list[Story]:
    """The first demo vehicle is the fleet's vehicle that fails soonest after a
    DEGRADING_LEAD_DAYS lead; the others never develop a fault."""
    days = fleet.in_service.shape[1]
    fail_day = np.where(fleet.in_service.all(axis=1), days, fleet.in_service.argmin(axis=1))
    failing = [v for v in np.argsort(fail_day) if DEGRADING_LEAD_DAYS <= fail_day[v] < days]
    healthy = [v for v in range(len(fail_day)) if not fleet.engine_severity[v].any()]
    stories = [Story(int(v), int(fail_day[v]) - DEGRADING_LEAD_DAYS, int(fail_day[v])) for v in failing[:1]]
    stories += [Story(int(v), 0, days) for v in healthy]
    return stories[:count]


class TripReplay:
    """Plays each adapter's story on a background thread until stop()."""

    def __init__(self, adapters: list[EmulatedAdapter], fleet: Fleet | None = None,
                 sample_seconds: float = SAMPLE_SECONDS):
        self.fleet = fleet or simulate(DEMO_FLEET)
        self.plays = list(zip(adapters, demo_stories(self.fleet, len(adapters))))
        self.sample_seconds = sample_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="trip-replay", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        step = 0
        while not self._stop.wait(0 if step == 0 else self.sample_seconds):
            for adapter, story in self.plays:
                day, sample = story.day_of(step)
                values = {pid: float(self.fleet.signals[pid][story.vehicle, day, sample]) for pid in PIDS}
                try:
                    adapter.set_answers({pid: obd_answer(pid, v) for pid, v in values.items() if not np.isnan(v)})
                except (OSError, RuntimeError) as exc:  # restarted or stopped: the next step tries again
                    log.debug("trip replay to %s skipped: %s", adapter.port, exc)
            step += 1
