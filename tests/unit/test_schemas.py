"""The booking request bodies (serve_apps/schemas.py)."""

import pytest
from pydantic import ValidationError

from serve_apps.schemas import CancelBookingRequest, CreateBookingRequest

PERIOD = {"resource_id": "r", "starts_at": "2030-01-01T00:00:00Z", "ends_at": "2030-01-02T00:00:00Z"}


def test_a_cancel_needs_only_a_reason():
    assert CancelBookingRequest.model_validate({"reason": "other"}).notes is None


def test_cancel_notes_may_have_1000_characters():
    CancelBookingRequest.model_validate({"reason": "other", "notes": "x" * 1000})


@pytest.mark.parametrize("body", [{"reason": "bogus"}, {}, {"reason": "other", "notes": "x" * 1001},
                                  {"reason": "other", "extra": 1}])
def test_a_bad_cancel_body_is_refused(body):
    with pytest.raises(ValidationError):
        CancelBookingRequest.model_validate(body)


def test_a_booking_covers_a_positive_period():
    CreateBookingRequest.model_validate(PERIOD)


@pytest.mark.parametrize("body", [{**PERIOD, "ends_at": PERIOD["starts_at"]},
                                  {**PERIOD, "starts_at": "2030-01-01T00:00:00"}, {**PERIOD, "resource_id": ""}])
def test_an_empty_period_a_naive_time_or_no_resource_is_refused(body):
    with pytest.raises(ValidationError):
        CreateBookingRequest.model_validate(body)
