"""Model inputs from a vehicle's live telemetry, laid out as the simulator lays out a trip
(ml/simulator.py: a sample every SAMPLE_SECONDS; ENGINE_OFF_SAMPLES key-on samples, the crank
sample, then the running part), so a live instance means what a training row meant.

- engine: the running part's length of the latest readings, ending at the newest one, and as
  many ending at the last reading ENGINE_LAG_DAYS before that (within a day of it; the model
  takes a missing earlier trip, as training did);
- battery: one trip from key-on, anchored on the latest engine start the vehicle saw;
- brakes: the same trip's speed trace, and the distance driven since the latest brake pad
  change an operator recorded (OBD-II does not report one), which the vehicle entity integrates
  from its SPEED telemetry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Sequence

import numpy as np

from ml.features import (BATTERY_FEATURES, BRAKE_FEATURES, ENGINE_LAG_DAYS, ENGINE_PAST_CHANNELS, ENGINE_PIDS,
                         battery_features, brake_features)
from ml.inputs import Instance, to_instances
from ml.simulator import ENGINE_OFF_SAMPLES, SAMPLE_SECONDS, SAMPLES_PER_DAY

BATTERY_PIDS = ("CONTROL_MODULE_VOLTAGE", "SPEED", "INTAKE_TEMP", "ENGINE_LOAD")
MIN_RUNNING_SAMPLES = 15  # half a minute of driving before a battery or brakes estimate means anything


@dataclass(frozen=True)
class LiveWindow:
    """What to ask a vehicle entity for (actors/vehicle.py on_window)."""

    pids: tuple[str, ...]
    samples: int
    anchor: Literal["latest", "engine_start"]
    lead_samples: int = 0  # steps before the anchor: the key-on samples and the crank
    lag_days: tuple[int, ...] = (0,)  # anchor "latest": one window per lag, the first required
    pad_distance: bool = False  # also the km driven since the latest brake pad change

    def requests(self) -> list[dict]:
        return [{"pids": list(self.pids), "samples": self.samples, "step_seconds": SAMPLE_SECONDS,
                 "anchor": self.anchor, "lead_samples": self.lead_samples, "lag_seconds": lag * DAY_SECONDS,
                 "pad_distance": self.pad_distance}
                for lag in self.lag_days]


DAY_SECONDS = 86_400
LIVE_WINDOWS = {
    "engine": LiveWindow(tuple(ENGINE_PIDS), SAMPLES_PER_DAY - ENGINE_OFF_SAMPLES - 1, "latest",
                         lag_days=(0, ENGINE_LAG_DAYS)),
    "battery": LiveWindow(BATTERY_PIDS, SAMPLES_PER_DAY, "engine_start", lead_samples=ENGINE_OFF_SAMPLES + 1),
    "brakes": LiveWindow(("SPEED",), SAMPLES_PER_DAY, "engine_start", lead_samples=ENGINE_OFF_SAMPLES + 1,
                         pad_distance=True),
}


class NotEnoughData(ValueError):
    """The window lacks what the model needs; the message says what."""


Grid = dict[str, list[float | None]]


def instance(family: str, signals: Grid, earlier: Sequence[Grid | None] = (),
             km_since_pad_change: float | None = None) -> Instance:
    """The API instance (ml/inputs.py) of one family from what an entity returned: the latest
    window's grids, the grids of the family's further lags (None where there was none), and for
    the brakes the distance since the pad change."""
    if family == "engine":
        empty = [pid for pid in ENGINE_PIDS if all(v is None for v in signals[pid])]
        if empty:
            raise NotEnoughData(f"no {', '.join(empty)} readings in the last "
                                f"{LIVE_WINDOWS['engine'].samples * SAMPLE_SECONDS:.0f} s")
        past = earlier[0] if earlier and earlier[0] else {pid: [None] * len(signals[pid]) for pid in ENGINE_PIDS}
        return {**{pid: signals[pid] for pid in ENGINE_PIDS},
                **{channel: past[pid] for channel, pid in zip(ENGINE_PAST_CHANNELS, ENGINE_PIDS)}}
    if family == "battery":
        running = signals["CONTROL_MODULE_VOLTAGE"][ENGINE_OFF_SAMPLES + 1:]
        if sum(v is not None for v in running) < MIN_RUNNING_SAMPLES:
            raise NotEnoughData(f"fewer than {MIN_RUNNING_SAMPLES} voltage samples since the engine started")
        arrays = {pid: np.array(values, dtype=float)[None, :] for pid, values in signals.items()}
        return to_instances(BATTERY_FEATURES, battery_features(arrays))[0]
    if family == "brakes":
        if sum(v is not None for v in signals["SPEED"][ENGINE_OFF_SAMPLES + 1:]) < MIN_RUNNING_SAMPLES:
            raise NotEnoughData(f"fewer than {MIN_RUNNING_SAMPLES} speed samples since the engine started")
        if km_since_pad_change is None:
            raise NotEnoughData("no distance since a brake pad change")
        speed = {"SPEED": np.array(signals["SPEED"], dtype=float)[None, :]}
        return to_instances(BRAKE_FEATURES, brake_features(speed, np.array([km_since_pad_change])))[0]
    raise NotEnoughData(f"no live inputs for {family}")
