"""What the bridge sends to vehicle actors: readings with units, and trouble-code reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

VEHICLE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
PID_PATTERN = r"^[A-Z0-9_]{1,64}$"  # python-obd command names: RPM, COOLANT_TEMP, ...

# PID name (python-obd mode-1 name, e.g. "RPM") -> {"value": float, "unit": str | None}
FreezeFrame = dict[str, dict[str, Any]]


# One reading as it travels from its source (bridge, HTTP, webhook) through the vehicle entity to
# the telemetry table: (pid, value, unit, captured_at). A tuple, as thousands of them cross to a
# shard in one pickled call and a tuple is the cheapest thing to pickle.
ReadingValues = tuple[str, float, str | None, datetime]


@dataclass(frozen=True, slots=True)
class Reading:
    """A reading of one vehicle, as adapter readers and the batcher hold it."""

    vehicle_id: str
    pid: str            # python-obd command name, e.g. "RPM", "COOLANT_TEMP"
    value: float
    unit: str | None    # e.g. "revolutions_per_minute", "degree_Celsius"
    captured_at: datetime

    def values(self) -> ReadingValues:
        return (self.pid, self.value, self.unit, self.captured_at)


@dataclass(frozen=True, slots=True)
class DtcReport:
    """The stored trouble codes (mode 03) of one vehicle at one moment; empty when none.
    freeze_frames holds the mode-02 snapshot of a code that is new since the previous report
    (the ECU keeps one frame, so at most one code has one)."""

    vehicle_id: str
    codes: tuple[tuple[str, str], ...]  # (code, description)
    captured_at: datetime
    freeze_frames: dict[str, FreezeFrame] = field(default_factory=dict)  # code -> frame
