"""Alert rules and scores of the vehicle monitor."""

from datetime import datetime, timedelta, timezone

from actors.vehicle_rules import VehicleMonitor

T0 = datetime(2026, 11, 23, 12, tzinfo=timezone.utc)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_coolant_alert_raises_once_and_clears_with_hysteresis():
    m = VehicleMonitor()
    assert [c.change for c in m.observe("COOLANT_TEMP", 112, at(0))] == ["raised"]
    assert m.observe("COOLANT_TEMP", 115, at(1)) == []
    assert m.observe("COOLANT_TEMP", 108, at(2)) == [], "inside the hysteresis band"
    assert [c.change for c in m.observe("COOLANT_TEMP", 100, at(3))] == ["cleared"]
    assert m.open_alerts == {}


def test_over_rev_needs_to_be_sustained():
    m = VehicleMonitor()
    assert m.observe("RPM", 5000, at(0)) == []
    assert m.observe("RPM", 5000, at(4)) == []
    assert [c.alert.key for c in m.observe("RPM", 5200, at(5))] == ["over_rev"]
    assert m.harsh_events["over_rev"] == 1
    assert [c.change for c in m.observe("RPM", 3000, at(6))] == ["cleared"]
    m.observe("RPM", 5000, at(7))
    assert m.observe("RPM", 5000, at(9)) == [], "the clock restarted after the drop"


def test_harsh_acceleration_and_braking_lower_the_driver_score():
    m = VehicleMonitor()
    for t, kmh in [(0, 0), (1, 20), (2, 22), (3, 2), (10, 80)]:
        m.observe("SPEED", kmh, at(t))
    assert m.harsh_events == {"hard_acceleration": 1, "hard_braking": 1}, "the 7 s gap is not judged"
    assert m.driver_score == 90


def test_new_trouble_codes_raise_alerts_and_health_drops():
    m = VehicleMonitor()
    changes = m.observe_dtcs({"P0301": "Cylinder 1 Misfire Detected"}, [], at(0))
    assert [c.alert.key for c in changes] == ["dtc:P0301"]
    m.observe("CONTROL_MODULE_VOLTAGE", 11.0, at(1))
    assert m.health_score(active_dtcs=1) == 100 - 15 - 10
    assert [c.change for c in m.observe_dtcs({}, ["P0301"], at(2))] == ["cleared"]
