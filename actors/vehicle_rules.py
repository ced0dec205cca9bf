"""Alert rules and driver scoring for one vehicle, as pure logic over its readings.

Defaults follow the OBD2 design: coolant over 110 °C, low control-module voltage, a new trouble
code, sustained over-revving; harsh acceleration and braking from the change of speed.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class AlertRules:
    coolant_max_c: float = 110.0
    coolant_clear_margin_c: float = 5.0
    voltage_min_v: float = 11.8
    voltage_clear_margin_v: float = 0.3
    overrev_rpm: float = 4500.0
    overrev_seconds: float = 5.0
    hard_accel_kmh_per_s: float = 12.0
    hard_brake_kmh_per_s: float = 15.0
    max_speed_gap_seconds: float = 2.0  # speed samples further apart say nothing about harshness
    # An engine start: RPM from below engine_stopped_rpm (off) to above cranking speed; a rough
    # idle dipping between the two is not a restart.
    engine_stopped_rpm: float = 100.0
    engine_running_rpm: float = 400.0
    # Maintenance alerts from model predictions (the engine model brings its own threshold).
    battery_soh_min: float = 0.7
    battery_rul_min_days: float = 30.0
    brake_wear_max_pct: float = 80.0


@dataclass
class Alert:
    key: str            # "coolant_high", "voltage_low", "over_rev", "dtc:P0301"
    severity: str       # "warning" | "critical"
    message: str
    value: float | None
    raised_at: datetime

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class AlertChange:
    change: str  # "raised" | "cleared"
    alert: Alert
    at: datetime


HARSH_PENALTY = {"hard_acceleration": 5, "hard_braking": 5, "over_rev": 3}


@dataclass(slots=True)
class VehicleMonitor:
    """Raises and clears alerts and counts harsh events as readings arrive (in time order)."""

    rules: AlertRules = field(default_factory=AlertRules)
    open_alerts: dict[str, Alert] = field(default_factory=dict)
    harsh_events: Counter = field(default_factory=Counter)
    engine_started_at: datetime | None = None  # the latest start seen since activation
    # The engine model's latest probability that the engine fails soon (the one failure
    # probability the models give: battery and brakes predict health and wear); None until one.
    failure_risk: float | None = None
    _overrev_since: datetime | None = None
    _engine_running: bool | None = None  # unknown until the first RPM reading
    _last_speed: tuple[float, datetime] | None = None

    def _raise(self, key: str, severity: str, message: str, value: float | None, at: datetime) -> list[AlertChange]:
        if key in self.open_alerts:
            return []
        alert = Alert(key, severity, message, value, at)
        self.open_alerts[key] = alert
        return [AlertChange("raised", alert, at)]

    def _clear(self, key: str, at: datetime) -> list[AlertChange]:
        alert = self.open_alerts.pop(key, None)
        return [AlertChange("cleared", alert, at)] if alert else []

    def observe(self, pid: str, value: float, at: datetime) -> list[AlertChange]:
        r = self.rules
        if pid == "COOLANT_TEMP":
            if value > r.coolant_max_c:
                return self._raise("coolant_high", "critical", f"Coolant at {value:.0f} °C (limit {r.coolant_max_c:.0f} °C)", value, at)
            if value < r.coolant_max_c - r.coolant_clear_margin_c:
                return self._clear("coolant_high", at)
        elif pid == "CONTROL_MODULE_VOLTAGE":
            if value < r.voltage_min_v:
                return self._raise("voltage_low", "warning", f"Control module voltage {value:.1f} V (minimum {r.voltage_min_v} V)", value, at)
            if value > r.voltage_min_v + r.voltage_clear_margin_v:
                return self._clear("voltage_low", at)
        elif pid == "RPM":
            if value < r.engine_stopped_rpm:
                self._engine_running = False
            elif value >= r.engine_running_rpm:
                if self._engine_running is False:
                    self.engine_started_at = at
                self._engine_running = True
            if value <= r.overrev_rpm:
                self._overrev_since = None
                return self._clear("over_rev", at)
            self._overrev_since = self._overrev_since or at
            if (at - self._overrev_since).total_seconds() >= r.overrev_seconds and "over_rev" not in self.open_alerts:
                self.harsh_events["over_rev"] += 1
                return self._raise("over_rev", "warning", f"Engine above {r.overrev_rpm:.0f} rpm for {r.overrev_seconds:.0f} s", value, at)
        elif pid == "SPEED":
            self._observe_speed(value, at)
        return []

    def _observe_speed(self, kmh: float, at: datetime) -> None:
        previous, self._last_speed = self._last_speed, (kmh, at)
        if previous is None:
            return
        dt = (at - previous[1]).total_seconds()
        if not 0 < dt <= self.rules.max_speed_gap_seconds:
            return
        rate = (kmh - previous[0]) / dt
        if rate >= self.rules.hard_accel_kmh_per_s:
            self.harsh_events["hard_acceleration"] += 1
        elif rate <= -self.rules.hard_brake_kmh_per_s:
            self.harsh_events["hard_braking"] += 1

    def observe_dtcs(self, new: dict[str, str], cleared: list[str], at: datetime) -> list[AlertChange]:
        changes = []
        for code, description in new.items():
            changes += self._raise(f"dtc:{code}", "warning", f"Trouble code {code}: {description}", None, at)
        for code in cleared:
            changes += self._clear(f"dtc:{code}", at)
        return changes

    def observe_predictions(self, predictions: dict[str, dict], at: datetime) -> list[AlertChange]:
        """predictions: family -> {"outputs", "thresholds", "version"} as the model API returns
        them. Raises `maintenance:<family>` while a prediction is past its threshold."""
        r = self.rules
        changes = []
        for family, p in predictions.items():
            out, label = p["outputs"], f"{family} model v{p['version']}"
            if family == "engine":
                value = self.failure_risk = out["fails_soon"]
                due = value >= p["thresholds"]["fails_soon"]
                severity, message = "critical", f"Engine failure likely within 14 days (p={value:.2f}, {label})"
            elif family == "battery":
                value = out["soh"]
                due = value < r.battery_soh_min or out["rul_days"] < r.battery_rul_min_days
                severity, message = "warning", (f"Battery health {value:.0%}, about {out['rul_days']:.0f} days "
                                                f"of life left ({label})")
            elif family == "brakes":
                value = out["wear_pct"]
                due = value > r.brake_wear_max_pct
                severity, message = "warning", f"Brake pads {value:.0f}% worn ({label})"
            else:
                continue
            key = f"maintenance:{family}"
            changes += self._raise(key, severity, message, value, at) if due else self._clear(key, at)
        return changes

    @property
    def driver_score(self) -> float:
        """100 for a smooth driver, minus a penalty per harsh event since activation."""
        return max(0.0, 100.0 - sum(HARSH_PENALTY[k] * n for k, n in self.harsh_events.items()))

    def health_score(self, active_dtcs: int) -> float:
        """100 for a healthy vehicle; trouble codes and open alerts take points off."""
        penalty = 15 * active_dtcs + sum(20 if a.severity == "critical" else 10
                                         for k, a in self.open_alerts.items() if not k.startswith("dtc:"))
        return max(0.0, 100.0 - penalty)
