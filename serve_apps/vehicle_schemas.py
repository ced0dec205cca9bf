"""HTTP bodies of the vehicle API."""

from __future__ import annotations

import math
from datetime import datetime, timezone

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, field_validator

from db.readings import PID_PATTERN, VEHICLE_ID_PATTERN, ReadingValues
from serve_apps.input_types import AdapterSettings, Instant, Text

MAX_READINGS_PER_BATCH = 5000


class RegisterVehicleRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    vehicle_id: str = Field(pattern=VEHICLE_ID_PATTERN)
    name: Text = Field(min_length=1, max_length=200)
    vin: Text | None = Field(default=None, min_length=11, max_length=17)
    adapter: AdapterSettings = Field(default_factory=dict, description="e.g. {'port': '/dev/rfcomm0'}; "
                                                                       "at most 4 KB of JSON")


class ReadingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pid: str = Field(pattern=PID_PATTERN)
    value: StrictFloat  # a number: not a boolean, not a string of digits
    unit: Text | None = Field(default=None, max_length=64)
    captured_at: Instant = Field(description="at most 5 minutes ahead of the server's clock")

    def values(self) -> ReadingValues:
        return (self.pid, self.value, self.unit, self.captured_at)

    @field_validator("value")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("value must be a finite number")
        return value


class TelemetryBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    readings: list[ReadingIn] = Field(min_length=1, max_length=MAX_READINGS_PER_BATCH)


class PadChangeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    changed_at: Instant | None = Field(default=None, description="when the pads were changed; default now")

    @field_validator("changed_at")
    @classmethod
    def _not_in_the_future(cls, changed_at: datetime | None) -> datetime | None:
        if changed_at is not None and changed_at > datetime.now(timezone.utc):
            raise ValueError("changed_at is in the future")
        return changed_at


class TelemetryPoint(BaseModel):
    pid: str
    value: float
    unit: str | None
    captured_at: datetime


class FreezeFrameValue(BaseModel):
    value: float
    unit: str | None


class DtcEntry(BaseModel):
    code: str
    description: str
    first_seen: datetime
    last_seen: datetime
    cleared_at: datetime | None
    freeze_frame: dict[str, FreezeFrameValue] | None = Field(
        default=None, description="the ECU's snapshot when the code was set (mode 02), by PID, e.g. "
                                  "{'RPM': {'value': 1726.0, 'unit': 'revolutions_per_minute'}}")
