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


def test_an_engine_start_is_rpm_rising_from_off_past_cranking_speed():
    m = VehicleMonitor()
    m.observe("RPM", 800, at(0))
    assert m.engine_started_at is None, "already running when first seen: not a start we saw"
    for t, rpm in ((10, 0), (12, 0), (14, 200), (16, 780), (18, 900), (20, 350), (22, 800)):
        m.observe("RPM", rpm, at(t))
    assert m.engine_started_at == at(16), "a rough idle dipping to 350 rpm is not a restart"


def prediction(version: int = 3, **outputs) -> dict:
    return {"outputs": outputs, "thresholds": {"fails_soon": 0.6}, "version": version}


def test_predictions_past_a_threshold_raise_a_maintenance_alert_once_and_clear_below_it():
    m = VehicleMonitor()
    raised = m.observe_predictions({"engine": prediction(fails_soon=0.8)}, at(0))
    assert [(c.change, c.alert.key, c.alert.severity, c.alert.value) for c in raised] == [
        ("raised", "maintenance:engine", "critical", 0.8)]
    assert "engine model v3" in raised[0].alert.message
    assert m.observe_predictions({"engine": prediction(fails_soon=0.9)}, at(1)) == []
    cleared = m.observe_predictions({"engine": prediction(fails_soon=0.2)}, at(2))
    assert [(c.change, c.alert.key) for c in cleared] == [("cleared", "maintenance:engine")]


def test_the_engine_predictions_probability_is_the_failure_risk_until_the_next():
    m = VehicleMonitor()
    assert m.failure_risk is None
    m.observe_predictions({"engine": prediction(fails_soon=0.35), "brakes": prediction(wear_pct=20.0)}, at(0))
    assert m.failure_risk == 0.35
    m.observe_predictions({"brakes": prediction(wear_pct=21.0)}, at(1))
    assert m.failure_risk == 0.35
    m.observe_predictions({"engine": prediction(fails_soon=0.1)}, at(2))
    assert m.failure_risk == 0.1


def test_battery_and_brake_predictions_use_the_rules_thresholds():
    m = VehicleMonitor()
    changes = m.observe_predictions({"battery": prediction(soh=0.9, rul_days=12.0),
                                     "brakes": prediction(wear_pct=85.0)}, at(0))
    assert {c.alert.key for c in changes} == {"maintenance:battery", "maintenance:brakes"}
    healthy = m.observe_predictions({"battery": prediction(soh=0.9, rul_days=200.0),
                                     "brakes": prediction(wear_pct=20.0)}, at(1))
    assert {(c.change, c.alert.key) for c in healthy} == {("cleared", "maintenance:battery"),
                                                           ("cleared", "maintenance:brakes")}
