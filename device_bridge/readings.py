"""What the bridge sends to vehicle actors: readings with units, and trouble-code reports."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Reading:
    vehicle_id: str
    pid: str            # python-obd command name, e.g. "RPM", "COOLANT_TEMP"
    value: float
    unit: str | None    # e.g. "revolutions_per_minute", "degree_Celsius"
    captured_at: datetime


@dataclass(frozen=True, slots=True)
class DtcReport:
    """The stored trouble codes (mode 03) of one vehicle at one moment; empty when none."""

    vehicle_id: str
    codes: tuple[tuple[str, str], ...]  # (code, description)
    captured_at: datetime
