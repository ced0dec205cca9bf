"""Small pure rules: rollout bucketing, back-off, outage classification, request bodies."""

import asyncio

import pytest
from aiokafka.errors import KafkaConnectionError, MessageSizeTooLargeError
from pydantic import ValidationError

from actors.outbox_relay import is_outage
from db.flags import in_rollout
from db.outbox import backoff_seconds
from serve_apps.schemas import CancelBookingRequest, CreateBookingRequest


def test_rollout_is_stable_and_close_to_its_percentage():
    users = [f"user-{i}" for i in range(10_000)]
    in_25 = {u for u in users if in_rollout("f", u, 25)}
    assert 2200 < len(in_25) < 2800
    assert in_25 <= {u for u in users if in_rollout("f", u, 50)}, "raising the percentage drops nobody"
    assert not any(in_rollout("f", u, 0) for u in users)
    assert all(in_rollout("f", u, 100) for u in users)


def test_backoff_grows_and_is_capped():
    assert [backoff_seconds(n) for n in (1, 2, 3, 4)] == [1, 2, 4, 8]
    assert backoff_seconds(20) == 60


def test_broker_outages_are_told_apart_from_bad_messages():
    assert is_outage(KafkaConnectionError())
    assert is_outage(asyncio.TimeoutError())
    assert not is_outage(MessageSizeTooLargeError())
    assert not is_outage(ValueError())


def test_cancel_body_rules():
    assert CancelBookingRequest.model_validate({"reason": "other"}).notes is None
    CancelBookingRequest.model_validate({"reason": "other", "notes": "x" * 1000})
    for bad in ({"reason": "bogus"}, {}, {"reason": "other", "notes": "x" * 1001},
                {"reason": "other", "extra": 1}):
        with pytest.raises(ValidationError):
            CancelBookingRequest.model_validate(bad)


def test_create_body_needs_an_aware_positive_period():
    ok = {"resource_id": "r", "starts_at": "2030-01-01T00:00:00Z", "ends_at": "2030-01-02T00:00:00Z"}
    CreateBookingRequest.model_validate(ok)
    for bad in ({**ok, "ends_at": ok["starts_at"]}, {**ok, "starts_at": "2030-01-01T00:00:00"},
                {**ok, "resource_id": ""}):
        with pytest.raises(ValidationError):
            CreateBookingRequest.model_validate(bad)
