"""HTTP request and response bodies (ADR-023 section 5.2 for the cancel contract)."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from db.events import CancellationReason
from serve_apps.input_types import Instant, Text

MAX_NOTES_LENGTH = 1000


class CreateBookingRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    resource_id: Text = Field(min_length=1, max_length=100)
    starts_at: Instant
    ends_at: Instant = Field(description="after starts_at, and in the future")

    @model_validator(mode="after")
    def _period_is_ahead(self) -> "CreateBookingRequest":
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        if self.ends_at <= datetime.now(timezone.utc):
            raise ValueError("ends_at must be in the future: the booking would be over")
        return self


class CancelBookingRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: CancellationReason
    notes: Text | None = Field(default=None, max_length=MAX_NOTES_LENGTH)


class BookingResponse(BaseModel):
    booking_id: uuid.UUID
    user_id: str
    resource_id: str
    status: str
    confirmation_code: str
    starts_at: datetime
    ends_at: datetime
    created_at: datetime
    cancelled_at: datetime | None = None
    cancellation_reason: str | None = None
    cancellation_notes: str | None = None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> "BookingResponse":
        return cls(booking_id=row["id"], **{k: row[k] for k in cls.model_fields if k in row})


class CancellationResponse(BaseModel):
    """Exactly the ADR's 200 body."""

    booking_id: uuid.UUID
    user_id: str
    resource_id: str
    status: str
    cancelled_at: datetime
    cancellation_reason: str
    cancellation_notes: str | None
    confirmation_code: str

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> "CancellationResponse":
        return cls(booking_id=row["id"], **{k: row[k] for k in cls.model_fields if k in row})
