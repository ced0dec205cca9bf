"""What clients may send: instants the database gives back as aware datetimes, text PostgreSQL
stores, adapter settings of bounded size; everything else is a validation error (a 400)."""

import pytest
from pydantic import TypeAdapter, ValidationError

from serve_apps.input_types import AdapterSettings, Instant, Text
from serve_apps.schemas import CreateBookingRequest
from serve_apps.vehicle_schemas import ReadingIn

INSTANT = TypeAdapter(Instant)


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00Z", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59.999999Z",
                                   "9999-12-31T23:59:59-01:00", "1969-12-31T23:59:59Z"])
def test_an_instant_the_database_cannot_give_back_is_refused(value):
    with pytest.raises(ValidationError, match="must be from 1970-01-01"):
        INSTANT.validate_python(value)


@pytest.mark.parametrize("value", [0, 0.5, "0.5", "1733000000", True, "2026-12-01T10:00:00"])
def test_numbers_and_naive_times_are_not_instants(value):
    with pytest.raises(ValidationError):
        INSTANT.validate_python(value)


def test_an_instant_keeps_its_offset():
    assert INSTANT.validate_python("2026-12-01T10:00:00+01:00").isoformat() == "2026-12-01T10:00:00+01:00"


@pytest.mark.parametrize("value", ["a\x00b", "\ud800"])
def test_text_postgresql_refuses_is_refused(value):
    with pytest.raises(ValidationError):
        TypeAdapter(Text).validate_python(value)


@pytest.mark.parametrize("adapter", [{"port\x00": "x"}, {"port": ["a", {"b": "\x00"}]}, {"blob": "x" * 5000}])
def test_adapter_settings_must_be_storable_and_small(adapter):
    with pytest.raises(ValidationError):
        TypeAdapter(AdapterSettings).validate_python(adapter)


@pytest.mark.parametrize("value", [True, "1.5"])
def test_a_reading_value_is_a_number(value):
    with pytest.raises(ValidationError):
        ReadingIn.model_validate_json(
            f'{{"pid": "RPM", "value": {"true" if value is True else chr(34) + value + chr(34)}, '
            '"captured_at": "2026-12-01T10:00:00Z"}')


def test_a_booking_that_is_already_over_is_refused():
    with pytest.raises(ValidationError, match="in the future"):
        CreateBookingRequest.model_validate({"resource_id": "r", "starts_at": "2020-01-01T00:00:00Z",
                                             "ends_at": "2020-01-02T00:00:00Z"})
