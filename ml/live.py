"""Model inputs from a vehicle's live telemetry, laid out as the simulator lays out a trip
(ml/simulator.py: a sample every SAMPLE_SECONDS; ENGINE_OFF_SAMPLES key-on samples, the crank
sample, then the running part), so a live instance means what a training row meant.

- engine: the running part's length of the latest readings, ending at the newest one, and as
  many ending at the last reading of each of the ENGINE_HISTORY_DAYS - 1 days before (a day
  without readings is a missing day, as training had them), each summarised as in training;
- battery: one trip from key-on, anchored on the latest engine start the vehicle saw;
- brakes: the same trip's speed trace, and the distance driven since the latest brake pad
  change an operator recorded (OBD-II does not report one), which the vehicle entity integrates
  from its SPEED telemetry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Sequence

import numpy as np

from ml.features import (BATTERY_FEATURES, BRAKE_FEATURES, ENGINE_HISTORY_DAYS, ENGINE_PIDS, ENGINE_SUMMARIES,
                         MIN_ENGINE_SAMPLES, battery_features, brake_features, engine_trip_summaries)
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
    history_days: int = 0  # anchor "latest": also the trip of each of this many days before
    pad_distance: bool = False  # also the km driven since the latest brake pad change
    step_seconds: float = SAMPLE_SECONDS


LIVE_WINDOWS = {
    "engine": LiveWindow(tuple(ENGINE_PIDS), SAMPLES_PER_DAY - ENGINE_OFF_SAMPLES - 1, "latest",
                         history_days=ENGINE_HISTORY_DAYS - 1),
    "battery": LiveWindow(BATTERY_PIDS, SAMPLES_PER_DAY, "engine_start", lead_samples=ENGINE_OFF_SAMPLES + 1),
    "brakes": LiveWindow(("SPEED",), SAMPLES_PER_DAY, "engine_start", lead_samples=ENGINE_OFF_SAMPLES + 1,
                         pad_distance=True),
}


class NotEnoughData(ValueError):
    """The window lacks what the model needs; the message says what."""


Grid = dict[str, list[float | None]]


def engine_trip_summary(grid: Grid) -> np.ndarray:
    """One trip's ENGINE_SUMMARIES from its grids (all NaN for a trip too short to say)."""
    return engine_trip_summaries({pid: np.array(grid[pid], dtype=float) for pid in ENGINE_PIDS})


def instance(family: str, signals: Grid, history: Sequence[np.ndarray | None] = (),
             km_since_pad_change: float | None = None) -> Instance:
    """The API instance (ml/inputs.py) of one family from what an entity returned: the latest
    window's grids, for the engine the summaries of each earlier day's trip (engine_trip_summary;
    the day before first, None for a day without a trip), and for the brakes the distance since
    the pad change."""
    if family == "engine":
        if sum(v is not None for v in signals["RPM"]) < MIN_ENGINE_SAMPLES:
            raise NotEnoughData(f"fewer than {MIN_ENGINE_SAMPLES} RPM readings in the last "
                                f"{LIVE_WINDOWS['engine'].samples * SAMPLE_SECONDS:.0f} s")
        missing = np.full(len(ENGINE_SUMMARIES), np.nan)
        days = [engine_trip_summary(signals), *(missing if day is None else day for day in history)][::-1]
        return to_instances(ENGINE_SUMMARIES, np.stack(days, axis=1)[None])[0]  # oldest day first
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
