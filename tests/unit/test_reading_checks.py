"""actors.vehicle.reading_problem: the check every batch passes before a vehicle applies it,
whatever sent it (HTTP, a webhook, the device bridge)."""

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from actors.vehicle import reading_problem

NOW = datetime(2026, 12, 1, 12, tzinfo=timezone.utc)
GOOD = ("RPM", 900.0, "revolutions_per_minute", NOW)


def test_a_batch_of_good_readings_passes():
    assert reading_problem([GOOD, ("SPEED", np.float64(42), None, NOW + timedelta(minutes=4)), ("X", 3, None, NOW)],
                           NOW) is None


@pytest.mark.parametrize("bad, field", [
    (("R\x00", 1.0, None, NOW), "pid"), (("", 1.0, None, NOW), "pid"),
    (("RPM", True, None, NOW), "value"), (("RPM", float("inf"), None, NOW), "value"),
    (("RPM", 1.0, "x\x00", NOW), "unit"),
    (("RPM", 1.0, None, NOW + timedelta(minutes=6)), "captured_at"),
    (("RPM", 1.0, None, datetime(1, 1, 1, tzinfo=timezone.utc)), "captured_at"),
    (("RPM", 1.0, None, datetime(2026, 12, 1)), "captured_at"),
])
def test_the_first_bad_reading_is_named(bad, field):
    assert reading_problem([GOOD, bad], NOW).startswith(f"readings[1].{field}:")
