"""The soak's verdict (tests/soak/run.py violations): a run keeping everything passes, and each
broken promise is named."""

import copy

import pytest

from tests.soak.run import violations

KEPT = {
    "cancellations": {"acknowledged": 10, "stored_cancelled": 10, "with_one_event": 10,
                      "applied": {"notifications": {"once": 10, "missing": 0, "more_than_once": 0},
                                  "property-management": {"once": 10, "missing": 0, "more_than_once": 0}}},
    "readings": {"acknowledged": 40, "stored_once": 40, "missing": 0, "stored_more_than_once": 0},
    "alerts": {"raised": 2, "raised_twice": 0},
    "outboxes": {"booking_outbox": {"unpublished": 0, "dead_letters": 0},
                 "vehicle_alert_outbox": {"unpublished": 0, "dead_letters": 0}},
    "bridge": {"generated": 100, "delivered": 100, "dropped": 0},
    "failed_answers": {"503": 3},
    "stale_vehicle_streams": [],
}


def test_a_run_that_kept_everything_has_no_violation():
    assert violations(KEPT) == []


@pytest.mark.parametrize("path, value, named", [
    (("cancellations", "applied", "notifications", "once"), 9, "notifications"),
    (("cancellations", "with_one_event"), 9, "one event"),
    (("readings", "stored_once"), 39, "readings"),
    (("alerts", "raised_twice"), 1, "alerts"),
    (("alerts", "raised"), 0, "alerts"),
    (("outboxes", "vehicle_alert_outbox", "dead_letters"), 1, "vehicle_alert_outbox"),
    (("bridge", "delivered"), 0, "bridge"),
    (("failed_answers", "500"), 1, "500"),
    (("stale_vehicle_streams",), [{"kind": "vehicle_sse"}], "stream"),
])
def test_each_broken_promise_is_named(path, value, named):
    report = copy.deepcopy(KEPT)
    *parents, key = path
    node = report
    for parent in parents:
        node = node[parent]
    node[key] = value
    [found] = violations(report)
    assert named in found
