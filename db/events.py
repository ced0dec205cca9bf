"""Domain events carried through the outbox to Kafka."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

CancellationReason = Literal[
    "change_of_plans", "double_booking", "found_alternative", "no_longer_needed", "other"
]
CANCELLATION_REASONS: tuple[str, ...] = CancellationReason.__args__  # type: ignore[attr-defined]


class BookingCancelled(BaseModel):
    """The event stored in the outbox; its event_id is fixed at write time and travels with
    every publish attempt, so consumers can de-duplicate redeliveries."""

    event_type: Literal["BookingCancelled"] = "BookingCancelled"
    event_id: uuid.UUID = Field(default_factory=uuid.uuid4)
    booking_id: uuid.UUID
    tenant_id: str
    user_id: str
    resource_id: str
    confirmation_code: str
    cancelled_at: datetime
    reason: CancellationReason
    notes: str | None = None
    occurred_at: datetime


class VehicleAlertEvent(BaseModel):
    """An alert raised or cleared on a vehicle, published to `vehicle-alerts` via the alert
    outbox in the transaction that stored the reading or trouble code behind it."""

    event_type: Literal["VehicleAlertRaised", "VehicleAlertCleared"]
    event_id: uuid.UUID = Field(default_factory=uuid.uuid4)
    vehicle_id: str
    tenant_id: str
    alert_key: str
    severity: Literal["warning", "critical"]
    message: str
    value: float | None = None
    raised_at: datetime
    occurred_at: datetime
