"""The vehicle entity: one logical actor per vehicle, hosted by vehicle shards.

Live state: latest value per PID with unit and time, running statistics, active trouble codes,
connection status, last seen, open alerts, health and driver scores. Readings arrive in batches
(from the device bridge or HTTP ingest); telemetry is persisted by the shard's group-commit
writer before the batch is acknowledged, and every alert raised or cleared commits with the
reading or trouble-code report behind it, together with its outbox event for `vehicle-alerts`.
On activation the latest values, open trouble codes and open alerts are reloaded from
PostgreSQL; statistics and scores restart (they describe this activation).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Any, Sequence

import asyncpg

from actors import metrics
from actors.entity_runtime import ShardRouter, TenantEntity, error
from actors.event_ring import RingRead, RingRegistry
from actors.telemetry_writer import TelemetryWriter
from actors.vehicle_rules import HARSH_PENALTY, Alert, AlertChange, AlertRules, VehicleMonitor
from db import vehicles as repo
from db.errors import DATABASE_UNAVAILABLE, unwrap
from db.events import VehicleAlertEvent
from db.pool import create_pool
from db.readings import FreezeFrame, ReadingValues
from db.timestamps import EARLIEST, instant_problem, text_problem
from db.vehicle_alerts import open_alerts, record_alert_events
from ml.live import LiveWindow

log = logging.getLogger(__name__)

MAX_SPEED_GAP_SECONDS = 10.0  # SPEED readings further apart say nothing about the distance between
# A reading from further ahead than a device clock's plausible drift would anchor the vehicle's
# windows in the future, and no later reading could move them back.
MAX_CLOCK_SKEW = timedelta(minutes=5)

Reply = dict[str, Any]


@lru_cache(maxsize=4096)
def _shared(name: str | None) -> str | None:
    """One str object per PID, unit or tenant name for the whole shard, not one per vehicle: each
    decoded row and each deserialized batch brings its own copies (about 1 KB per vehicle). The
    cache returns the first copy it saw; bounded, unlike sys.intern, as clients choose names."""
    return name


@dataclass(frozen=True, slots=True)
class Registration:
    """What a vehicle entity keeps of its `vehicles` row (the adapter settings are the bridge's):
    a few slots instead of the row's dict, as every activated vehicle holds one."""

    tenant_id: str
    name: str
    vin: str | None
    registered_at: datetime

    @classmethod
    def from_row(cls, row: dict[str, Any] | None) -> "Registration | None":
        return cls(_shared(row["tenant_id"]), row["name"], row["vin"], row["registered_at"]) if row else None


@dataclass(frozen=True, slots=True)
class PadOdometer:
    """Distance driven since the latest brake pad change, integrated from SPEED up to `until`."""

    changed_at: datetime
    km: float
    until: datetime


@dataclass(slots=True)
class PidState:
    """Latest value and running statistics of one PID."""

    value: float
    unit: str | None
    captured_at: datetime
    count: int = 1
    mean: float = 0.0
    minimum: float = 0.0
    maximum: float = 0.0

    @classmethod
    def first(cls, value: float, unit: str | None, at: datetime) -> "PidState":
        return cls(value, _shared(unit), at, 1, value, value, value)

    def update(self, value: float, unit: str | None, at: datetime) -> None:
        if at >= self.captured_at:
            self.value, self.unit, self.captured_at = value, _shared(unit), at
        self.count += 1
        self.mean += (value - self.mean) / self.count
        self.minimum = min(self.minimum, value)
        self.maximum = max(self.maximum, value)

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "unit": self.unit, "captured_at": self.captured_at,
                "stats": {"count": self.count, "mean": self.mean, "min": self.minimum, "max": self.maximum}}


class VehicleEntity(TenantEntity):
    # Slots, not a __dict__: tens of thousands of these live in one shard.
    open_commands = frozenset({"register"})
    not_found = "Vehicle not found"
    __slots__ = ("vehicle_id", "registration", "kind", "pids", "dtcs", "connection", "last_seen", "monitor",
                 "pad_odometer", "pad_change_looked_up", "saved_standing")

    def __init__(self, vehicle_id: str, registration: Registration | None, kind: "VehicleKind"):
        self.vehicle_id = vehicle_id
        self.registration = registration
        self.kind = kind
        self.pids: dict[str, PidState] = {}
        self.dtcs: dict[str, str] = {}
        self.connection = "unknown"
        self.last_seen: datetime | None = None
        self.monitor = VehicleMonitor(kind.rules)
        self.pad_odometer: PadOdometer | None = None  # read from the database when first needed
        self.pad_change_looked_up = False  # and then known: every change is recorded through this entity
        self.saved_standing: tuple[str, float] | None = None  # the row's (connection, health_score)

    async def load(self) -> None:
        if self.registration is None:
            return
        for r in await repo.latest_readings(self.kind.pool, self.vehicle_id):
            self.pids[_shared(r["pid"])] = PidState.first(r["value"], r["unit"], r["captured_at"])
            self.last_seen = max(self.last_seen or r["captured_at"], r["captured_at"])
        for r in await repo.dtc_history(self.kind.pool, self.vehicle_id):
            if r["cleared_at"] is None:
                self.dtcs[r["code"]] = r["description"]
        for r in await open_alerts(self.kind.pool, self.vehicle_id):
            self.monitor.open_alerts[r["key"]] = Alert(**r)

    def owner(self) -> str | None:
        return None if self.registration is None else self.registration.tenant_id

    async def on_register(self, tenant_id: str, name: str, vin: str | None, adapter: dict[str, Any]) -> Reply:
        if self.registration is not None:  # another tenant's vehicle is not found, as on every route
            if self.owner() != tenant_id:
                return error("NOT_FOUND", f"Vehicle {self.vehicle_id} cannot be registered in this tenant")
            return error("CONFLICT", f"Vehicle {self.vehicle_id} is already registered")
        row = await repo.insert_vehicle(self.kind.pool, vehicle_id=self.vehicle_id, tenant_id=tenant_id,
                                        name=name, vin=vin, adapter=adapter)
        if row is None:
            return error("CONFLICT", f"Vehicle {self.vehicle_id} is already registered")
        self.registration = Registration.from_row(row)
        self.saved_standing = standing_of_row(row)
        return {"vehicle": self.view()}

    async def on_ingest(self, tenant_id: str, readings: list[ReadingValues],
                        reports: list[tuple[dict[str, str], datetime]
                                      | tuple[dict[str, str], datetime, dict[str, FreezeFrame]]] = ()) -> Reply:
        """Apply a batch: readings as (pid, value, unit, captured_at), trouble-code reports as
        (codes, captured_at) or (codes, captured_at, freeze frames by code). Returns once the
        telemetry is committed."""
        problem = reading_problem(readings, datetime.now(timezone.utc))
        if problem:  # refused whole, before anything changes: nothing half-applied
            return error("INVALID_REQUEST", problem)
        if readings:
            self.connection = "connected"  # data is flowing (also restores it after re-activation)
        changes: list[AlertChange] = []
        for pid, value, unit, at in sorted(readings, key=lambda r: r[3]):
            state = self.pids.get(pid)
            if state is None:
                self.pids[_shared(pid)] = PidState.first(value, unit, at)
            else:
                state.update(value, unit, at)
            changes += self.monitor.observe(pid, value, at)
            self.last_seen = max(self.last_seen or at, at)
        await self.kind.writer.write(
            [(self.vehicle_id, tenant_id, pid, value, unit, at) for pid, value, unit, at in readings],
            self._alert_events(tenant_id, changes))
        for codes, at, *freeze_frames in reports:
            async with self.kind.pool.acquire() as conn, conn.transaction():
                new, cleared = await repo.record_dtc_report(
                    conn, vehicle_id=self.vehicle_id, tenant_id=tenant_id, codes=codes, at=at,
                    freeze_frames=freeze_frames[0] if freeze_frames else None)
                dtc_changes = self.monitor.observe_dtcs({c: codes[c] for c in new}, cleared, at)
                await record_alert_events(conn, self._alert_events(tenant_id, dtc_changes))
            self.dtcs = dict(codes)
            changes += dtc_changes
            self.last_seen = max(self.last_seen or at, at)
        self._after_commit(readings, changes)
        await self._save_standing()
        return {"accepted": len(readings),
                "alerts": [{"change": c.change, **c.alert.to_dict()} for c in changes]}

    def _after_commit(self, readings: list[ReadingValues], changes: list[AlertChange]) -> None:
        """Count what was just committed, and offer it to live stream readers (only if someone
        watches)."""
        if readings:
            metrics.VEHICLE_READINGS.inc(len(readings))
        for c in changes:
            metrics.VEHICLE_ALERTS.inc(tags={"change": c.change, "severity": c.alert.severity})
        streams = self.kind.streams
        if not streams.watching(self.vehicle_id):
            return
        if readings:
            streams.publish(self.vehicle_id, {"type": "readings", "readings": [
                {"pid": pid, "value": value, "unit": unit, "captured_at": at} for pid, value, unit, at in readings]})
        for c in changes:
            streams.publish(self.vehicle_id, {"type": "alert", "change": c.change, **c.alert.to_dict()})

    def _alert_events(self, tenant_id: str, changes: list[AlertChange]) -> list[VehicleAlertEvent]:
        return [VehicleAlertEvent(
            event_type="VehicleAlertRaised" if c.change == "raised" else "VehicleAlertCleared",
            vehicle_id=self.vehicle_id, tenant_id=tenant_id, alert_key=c.alert.key,
            severity=c.alert.severity, message=c.alert.message, value=c.alert.value,
            raised_at=c.alert.raised_at, occurred_at=c.at) for c in changes]

    async def on_set_connection(self, tenant_id: str, status: str, vin: str | None = None) -> Reply:
        """The bridge reports its adapter's link (and the VIN it read once connected)."""
        if status != self.connection:
            self.kind.streams.publish(self.vehicle_id, {"type": "connection", "connection": status})
        self.connection = status
        if vin and not self.registration.vin:
            await repo.record_vin(self.kind.pool, self.vehicle_id, vin)
            self.registration = replace(self.registration, vin=vin)
        await self._save_standing()
        return {"connection": status}

    async def _save_standing(self) -> None:
        """Keep the row's connection and health score (which search counts, db/search.py) as
        the entity's: one write when either changed, none otherwise. It runs after the command's
        own commit, so a database that is away only delays it to the next command."""
        standing = self.connection, self.monitor.health_score(len(self.dtcs))
        if standing == self.saved_standing:
            return
        try:
            await repo.record_standing(self.kind.pool, self.vehicle_id, *standing)
        except DATABASE_UNAVAILABLE as exc:  # what was committed stands; the next change writes it
            log.warning("vehicle %s: connection and health not saved: %r", self.vehicle_id, exc)
            return
        self.saved_standing = standing

    async def on_record_pad_change(self, tenant_id: str, changed_at: datetime) -> Reply:
        """An operator changed the brake pads: the distance for the brakes model restarts there."""
        await repo.record_pad_change(self.kind.pool, vehicle_id=self.vehicle_id, tenant_id=tenant_id,
                                     changed_at=changed_at)
        self.pad_odometer, self.pad_change_looked_up = None, False
        odometer = await self._pad_odometer()
        return {"pad_change": {"vehicle_id": self.vehicle_id, "changed_at": odometer.changed_at,
                               "km_since": odometer.km}}

    async def _pad_odometer(self) -> PadOdometer | None:
        """The distance since the latest pad change, adding the SPEED readings stored since the
        previous call (db.vehicles.distance_driven); None when no change was ever recorded."""
        if self.pad_odometer is None:
            if self.pad_change_looked_up:
                return None
            self.pad_change_looked_up = True
            changed_at = await repo.latest_pad_change(self.kind.pool, self.vehicle_id)
            if changed_at is None:
                return None
            self.pad_odometer = PadOdometer(changed_at, 0.0, changed_at)
        odometer = self.pad_odometer
        km, last_at = await repo.distance_driven(self.kind.pool, self.vehicle_id, odometer.until,
                                                 MAX_SPEED_GAP_SECONDS)
        if last_at is not None:
            self.pad_odometer = PadOdometer(odometer.changed_at, odometer.km + km, last_at)
        return self.pad_odometer

    async def on_window(self, tenant_id: str, spec: LiveWindow, known_ends: Sequence[datetime] = ()) -> Reply:
        """The vehicle's readings on a regular grid (db.vehicles.telemetry_grids), for a model:
        the `samples` steps up to the latest reading (anchor "latest"), or from `lead_samples`
        steps before the latest engine start (anchor "engine_start"). With `history_days` (anchor
        "latest"), also the trip of each of that many days before: the steps up to the last
        reading in the day that ends k days before the latest reading, or None without one;
        without its signals where its end is in `known_ends` (the caller has it). With
        `pad_distance`, also the kilometres driven since the latest brake pad change. Everything
        acknowledged is already committed: messages to an entity run in order."""
        pids, samples, step_seconds = list(spec.pids), spec.samples, spec.step_seconds
        step = timedelta(seconds=step_seconds)
        pool = self.kind.pool
        earlier_ends: list[datetime | None] = []
        if spec.anchor == "latest":
            if self.last_seen is None:
                return {"window": None, "reason": "no readings yet"}
            if spec.history_days:
                earlier_ends = await repo.last_reading_each_day(pool, self.vehicle_id, pids, self.last_seen,
                                                                spec.history_days)
            start = self.last_seen - step * (samples - 1)
        else:
            if self.monitor.engine_started_at is None:
                return {"window": None, "reason": "no engine start seen since the vehicle became active"}
            start = self.monitor.engine_started_at - step * spec.lead_samples
        window: dict[str, Any] = {"start": start, "step_seconds": step_seconds}
        if spec.pad_distance:  # before the grid: without a pad change there is no window to read
            odometer = await self._pad_odometer()
            if odometer is None:
                return {"window": None, "reason": "no brake pad change recorded "
                                                  f"(POST /v1/vehicles/{self.vehicle_id}/brake-pad-changes)"}
            window.update(km_since_pad_change=odometer.km, pad_changed_at=odometer.changed_at)
        known = set(known_ends)
        history = [None if end is None else {"start": end - step * (samples - 1), "end": end} for end in earlier_ends]
        to_read = [day for day in history if day is not None and day["end"] not in known]
        grids = await repo.telemetry_grids(pool, self.vehicle_id, pids, [start, *(day["start"] for day in to_read)],
                                           step_seconds, samples)
        window["signals"] = grids[0]
        for day, grid in zip(to_read, grids[1:]):
            day["signals"] = grid
        if spec.history_days:
            window["history"] = history
        return {"window": window}

    async def on_maintenance(self, tenant_id: str, predictions: dict[str, dict]) -> Reply:
        """Raise or clear maintenance alerts from model predictions (vehicle_rules
        observe_predictions); each change commits with its outbox event."""
        before = dict(self.monitor.open_alerts)
        changes = self.monitor.observe_predictions(predictions, datetime.now(timezone.utc))
        if changes:
            try:
                async with self.kind.pool.acquire() as conn, conn.transaction():
                    await record_alert_events(conn, self._alert_events(tenant_id, changes))
            except BaseException:
                self.monitor.open_alerts = before  # not committed: the next prediction tries again
                raise
            self._after_commit([], changes)
            await self._save_standing()
        return {"alerts": [{"change": c.change, **c.alert.to_dict()} for c in changes]}

    async def on_get(self, tenant_id: str) -> Reply:
        return {"vehicle": self.view()}

    def view(self) -> dict[str, Any]:
        registration = self.registration
        return {
            "vehicle_id": self.vehicle_id, "name": registration.name, "vin": registration.vin,
            "registered_at": registration.registered_at, "connection": self.connection,
            "last_seen": self.last_seen,
            "readings": {pid: s.to_dict() for pid, s in sorted(self.pids.items())},
            "trouble_codes": [{"code": c, "description": d} for c, d in sorted(self.dtcs.items())],
            "alerts": [a.to_dict() for a in self.monitor.open_alerts.values()],
            "health_score": self.monitor.health_score(len(self.dtcs)),
            "driver_score": self.monitor.driver_score,
            "failure_risk": self.monitor.failure_risk,
            "harsh_events": {kind: self.monitor.harsh_events[kind] for kind in HARSH_PENALTY},
        }


def standing_of_row(row: dict[str, Any] | None) -> tuple[str, float] | None:
    return (row["connection"], row["health_score"]) if row else None


@lru_cache(maxsize=4096)
def _storable_name(name: object) -> bool:
    """A PID or unit name PostgreSQL stores (cached: a fleet uses few names, and this runs per reading)."""
    return isinstance(name, str) and bool(name) and text_problem(name) is None


def _is_number(value: object) -> bool:
    """int or float (numpy's too), and not a bool, which Python counts as an int."""
    return isinstance(value, (float, int)) and value is not True and value is not False


def reading_problem(readings: Sequence[ReadingValues], now: datetime) -> str | None:
    """Why a batch of (pid, value, unit, captured_at) cannot be taken, naming its first bad
    reading, or None. Checked for every source (HTTP, webhooks, the device bridge), so one bad
    reading never reaches the shard's shared COPY."""
    latest = now + MAX_CLOCK_SKEW
    for i, (pid, value, unit, at) in enumerate(readings):
        if (_storable_name(pid) and (unit is None or _storable_name(unit))
                and _is_number(value) and math.isfinite(value)
                and isinstance(at, datetime) and at.tzinfo is not None and EARLIEST <= at <= latest):
            continue
        if not _storable_name(pid):
            return f"readings[{i}].pid: must be a PID name"
        if unit is not None and not _storable_name(unit):
            return f"readings[{i}].unit: {text_problem(unit) if isinstance(unit, str) else 'must be text'}"
        if not _is_number(value) or not math.isfinite(value):
            return f"readings[{i}].value: must be a finite number"
        if not isinstance(at, datetime) or instant_problem(at):
            return f"readings[{i}].captured_at: {instant_problem(at) if isinstance(at, datetime) else 'must be a time'}"
        return f"readings[{i}].captured_at: more than {MAX_CLOCK_SKEW.total_seconds():.0f} s ahead of the server's clock"
    return None


class VehicleKind:
    """Entity kind for vehicle shards: a pool, one telemetry writer and the live-stream rings of
    the shard's watched vehicles, per shard process."""

    pool: asyncpg.Pool
    writer: TelemetryWriter
    rules: AlertRules
    streams: RingRegistry

    async def open(self, config: dict[str, Any]) -> None:
        self.pool = await create_pool(config["database_url"], min_size=1, max_size=6)
        self.writer = TelemetryWriter(self.pool)
        self.rules = AlertRules(**config.get("alert_rules", {}))
        self.streams = RingRegistry()

    async def watch(self, vehicle_id: str, cursor: int, timeout: float) -> RingRead:
        return await self.streams.read(vehicle_id, cursor, timeout)

    async def activate(self, entity_id: str) -> VehicleEntity:
        row = await repo.fetch_vehicle(self.pool, entity_id)
        entity = VehicleEntity(entity_id, Registration.from_row(row), self)
        entity.saved_standing = standing_of_row(row)
        await entity.load()
        return entity

    def export(self, entity: VehicleEntity) -> dict[str, Any]:
        """The live state a vehicle takes to another shard: latest values with their rolling
        statistics, trouble codes, connection, open alerts and the monitor's counters."""
        return {name: getattr(entity, name) for name in VehicleEntity.__slots__ if name not in ("vehicle_id", "kind")}

    def restore(self, entity_id: str, exported: dict[str, Any]) -> VehicleEntity:
        entity = VehicleEntity(entity_id, exported["registration"], self)
        for name, value in exported.items():
            setattr(entity, name, value)
        entity.monitor.rules = self.rules  # this shard's, which are the same settings
        return entity

    def summary(self, entity: VehicleEntity) -> dict[str, Any] | None:
        """Who an active vehicle belongs to and when it last reported (None: not registered),
        for the maintenance sweep (actors/maintenance_sweep.py)."""
        if entity.registration is None:
            return None
        return {"tenant_id": entity.registration.tenant_id, "last_seen": entity.last_seen}

    async def close(self) -> None:
        await self.pool.close()


VEHICLE_KIND = ("vehicle", "actors.vehicle:VehicleKind")


@dataclass(frozen=True, slots=True)
class VehicleWindow:
    window: dict[str, Any] | None  # the grids and what else was asked for (VehicleEntity.on_window)
    reason: str | None             # why there is none


class VehicleClient:
    """Vehicle entities addressed by id. Every call names the caller's tenant; a refusal raises
    DomainError (NOT_FOUND for another tenant's vehicle, CONFLICT, INVALID_REQUEST)."""

    def __init__(self, router: ShardRouter):
        self.router = router

    async def _ask(self, vehicle_id: str, command: str, **payload: Any) -> Reply:
        return await self.router.ask(vehicle_id, command, payload)

    async def register(self, vehicle_id: str, *, tenant_id: str, name: str, vin: str | None,
                       adapter: dict[str, Any]) -> dict[str, Any]:
        return unwrap(await self._ask(vehicle_id, "register", tenant_id=tenant_id, name=name, vin=vin,
                                      adapter=adapter), "vehicle")

    async def get(self, vehicle_id: str, *, tenant_id: str) -> dict[str, Any]:
        """The vehicle's live state (VehicleEntity.view)."""
        return unwrap(await self._ask(vehicle_id, "get", tenant_id=tenant_id), "vehicle")

    async def ingest(self, vehicle_id: str, *, tenant_id: str, readings: Sequence[ReadingValues]) -> int:
        """Apply one batch; returns how many readings were stored, once they are committed."""
        return unwrap(await self._ask(vehicle_id, "ingest", tenant_id=tenant_id, readings=readings), "accepted")

    async def ingest_many(self, tenant_id: str, batches: dict[str, dict[str, list]]) -> dict[str, str]:
        """Many vehicles' batches ({"readings": [...], "reports": [...]} by vehicle id) in one
        Ray call per shard; returns vehicle id -> "CODE: problem" for those not stored."""
        return await self.router.deliver("ingest", {vehicle_id: {"tenant_id": tenant_id, **batch}
                                                    for vehicle_id, batch in batches.items()})

    async def set_connection(self, vehicle_id: str, *, tenant_id: str, status: str, vin: str | None) -> None:
        unwrap(await self._ask(vehicle_id, "set_connection", tenant_id=tenant_id, status=status, vin=vin),
               "connection")

    async def record_pad_change(self, vehicle_id: str, *, tenant_id: str, changed_at: datetime) -> dict[str, Any]:
        return unwrap(await self._ask(vehicle_id, "record_pad_change", tenant_id=tenant_id, changed_at=changed_at),
                      "pad_change")

    async def window(self, vehicle_id: str, *, tenant_id: str, spec: LiveWindow,
                     known_ends: Sequence[datetime] = ()) -> VehicleWindow:
        """The readings a model needs (VehicleEntity.on_window); earlier days whose end is in
        `known_ends` come without their grids (the caller has them)."""
        reply = await self._ask(vehicle_id, "window", tenant_id=tenant_id, spec=spec, known_ends=list(known_ends))
        window = unwrap(reply, "window")
        return VehicleWindow(window, None if window is not None else reply["reason"])

    async def maintenance(self, vehicle_id: str, *, tenant_id: str,
                          predictions: dict[str, dict]) -> list[dict[str, Any]]:
        """Raise or clear the vehicle's maintenance alerts; returns the changes made."""
        return unwrap(await self._ask(vehicle_id, "maintenance", tenant_id=tenant_id, predictions=predictions),
                      "alerts")

    async def watch(self, vehicle_id: str, cursor: int, timeout: float) -> RingRead:
        return await self.router.watch(vehicle_id, cursor, timeout)

    async def active_summaries(self) -> dict[str, Any]:
        return await self.router.active_summaries()
