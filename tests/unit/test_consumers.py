"""How a booking consumer reads a record (actors/consumers.py decode)."""

import uuid
from datetime import datetime, timezone

import pytest
from aiokafka.structs import ConsumerRecord

from actors.consumers import decode
from db.events import BookingCancelled

NOW = datetime(2030, 1, 1, tzinfo=timezone.utc)
EVENT = BookingCancelled(booking_id=uuid.uuid4(), tenant_id="t1", user_id="alice", resource_id="room-9",
                         confirmation_code="ABCD2345", cancelled_at=NOW, reason="other", occurred_at=NOW)


def record(value: bytes, event_type: bytes = b"BookingCancelled") -> ConsumerRecord:
    return ConsumerRecord("booking-events", 0, 7, 0, 0, None, value, None, len(value), -1,
                          [("event_type", event_type)])


def test_a_cancellation_record_is_read_back_as_the_event():
    assert decode(record(EVENT.model_dump_json().encode())) == EVENT


def test_another_kind_of_event_is_passed_over():
    assert decode(record(EVENT.model_dump_json().encode(), b"BookingCreated")) is None


@pytest.mark.parametrize("value", [b"{not json", b'{"event_type": "BookingCancelled"}', b"[]"])
def test_a_malformed_record_is_a_value_error(value):
    with pytest.raises(ValueError):
        decode(record(value))
