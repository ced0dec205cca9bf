"""Reads one ELM327 adapter with python-obd: VIN once, a fast and a slow PID group each at its
own rate (only PIDs the car supports), stored trouble codes periodically, and the freeze frame
(mode 02) when a new code appears. Values keep their units. A dropped or garbled adapter is reconnected with back-off while its vehicle shows
`disconnected`; the caller's other adapters are unaffected.

python-obd is blocking, so every adapter call runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable, Literal

import obd

from db.readings import DtcReport, FreezeFrame, Reading

log = logging.getLogger(__name__)

FAST_PIDS = ("RPM", "SPEED", "ENGINE_LOAD", "THROTTLE_POS")
SLOW_PIDS = ("COOLANT_TEMP", "CONTROL_MODULE_VOLTAGE", "FUEL_LEVEL", "INTAKE_TEMP",
             "OIL_TEMP", "AMBIANT_AIR_TEMP", "MAF", "TIMING_ADVANCE")
Status = Literal["connecting", "connected", "disconnected"]
MAX_FAILED_ROUNDS = 3  # consecutive rounds with no valid answer before the link counts as lost
NEGATIVE_RESPONSE = 0x7F  # an ECU's "no such data" answer, which python-obd decodes as a value


@dataclass
class AdapterConfig:
    vehicle_id: str
    port: str                 # serial device, Bluetooth rfcomm device, or pty of an emulator
    baudrate: int | None = 38400  # None: python-obd probes it (not over socket:// URLs)
    protocol: str | None = None   # ELM327 protocol id ("6": ISO 15765-4 CAN 11 bit 500k); None: auto
    fast_hz: float = 5.0
    slow_hz: float = 0.5
    dtc_seconds: float = 10.0
    fast_pids: tuple[str, ...] = FAST_PIDS
    slow_pids: tuple[str, ...] = SLOW_PIDS
    connect_timeout: float = 5.0
    max_backoff: float = 30.0


@dataclass
class AdapterState:
    status: Status = "connecting"
    vin: str | None = None
    supported: list[str] = field(default_factory=list)
    reconnects: int = 0
    last_error: str | None = None
    codes: frozenset[str] = frozenset()  # in the last mode-03 report: a code not in it is new


def answered(response: obd.OBDResponse) -> bool:
    """Whether the ECU gave data: python-obd decodes its negative response (7F ...) as a value."""
    return (not response.is_null() and response.value is not None
            and not any(m.data[:1] == bytes([NEGATIVE_RESPONSE]) for m in response.messages))


def to_value(response: obd.OBDResponse) -> tuple[float, str | None] | None:
    """A python-obd answer as (magnitude, unit name), or None if there is no number in it."""
    if not answered(response):
        return None
    value = response.value
    if hasattr(value, "magnitude"):
        return float(value.magnitude), str(value.units)
    if isinstance(value, (int, float)):
        return float(value), None
    return None


def to_reading(vehicle_id: str, pid: str, response: obd.OBDResponse, at: datetime) -> Reading | None:
    value = to_value(response)
    return None if value is None else Reading(vehicle_id, pid, *value, at)


class AdapterReader:
    def __init__(self, config: AdapterConfig, on_reading: Callable[[Reading], None],
                 on_report: Callable[[DtcReport], None],
                 on_status: Callable[[str, Status], None] | None = None):
        self.config = config
        self.on_reading = on_reading
        self.on_report = on_report
        self.on_status = on_status or (lambda vehicle_id, status: None)
        self.state = AdapterState()
        self._connection: obd.OBD | None = None

    def _set_status(self, status: Status) -> None:
        if status != self.state.status:
            self.state.status = status
            self.on_status(self.config.vehicle_id, status)

    def _connect(self) -> obd.OBD:
        connection = obd.OBD(self.config.port, baudrate=self.config.baudrate, protocol=self.config.protocol,
                             fast=False, timeout=self.config.connect_timeout)
        if connection.status() != obd.OBDStatus.CAR_CONNECTED:
            connection.close()
            raise ConnectionError(f"adapter at {self.config.port}: {connection.status()}")
        return connection

    def _query_group(self, pids: tuple[str, ...]) -> tuple[list[Reading], int]:
        """Query the supported PIDs of a group; returns readings and how many answered."""
        at = datetime.now(timezone.utc)
        readings = []
        for pid in pids:
            command = obd.commands[pid]
            if not self._connection.supports(command):
                continue
            reading = to_reading(self.config.vehicle_id, pid, self._connection.query(command), at)
            if reading is not None:
                readings.append(reading)
        return readings, len(readings)

    def _query_dtcs(self) -> DtcReport | None:
        response = self._connection.query(obd.commands.GET_DTC)
        if not answered(response):
            return None
        at = datetime.now(timezone.utc)
        codes = tuple((code, desc or "") for code, desc in response.value)
        new = sorted({code for code, _ in codes} - self.state.codes)
        self.state.codes = frozenset(code for code, _ in codes)
        return DtcReport(self.config.vehicle_id, codes, at, self._freeze_frames(new) if new else {})

    def _freeze_frames(self, new_codes: list[str]) -> dict[str, FreezeFrame]:
        """Read the freeze frame and key it by the code that triggered it: the one the ECU names
        (mode 02 PID 02), or the only new code when the ECU does not say. The ECU keeps a single
        frame, so when it names an older code or several codes are new and it names none, no new
        code gets it."""
        trigger = None
        if self._connection.supports(obd.commands.DTC_FREEZE_DTC):
            answer = self._connection.query(obd.commands.DTC_FREEZE_DTC)
            if answered(answer):
                trigger = answer.value[0]
        code = trigger if trigger is not None else (new_codes[0] if len(new_codes) == 1 else None)
        if code not in new_codes:
            return {}
        frame: FreezeFrame = {}
        for pid in dict.fromkeys(self.config.fast_pids + self.config.slow_pids):
            command = obd.commands["DTC_" + pid]
            if self._connection.supports(command):
                value = to_value(self._connection.query(command))
                if value is not None:
                    frame[pid] = {"value": value[0], "unit": value[1]}
        return {code: frame} if frame else {}

    async def _session(self) -> None:
        """One connected session; returns (or raises) when the link is lost."""
        self._connection = await asyncio.to_thread(self._connect)
        try:
            if self.state.vin is None:
                vin = await asyncio.to_thread(self._connection.query, obd.commands.VIN)
                if not vin.is_null():
                    self.state.vin = bytes(vin.value).decode(errors="replace").strip()
            self.state.supported = sorted(c.name for c in self._connection.supported_commands)
            self._set_status("connected")
            loop = asyncio.get_running_loop()
            next_fast = next_slow = next_dtc = loop.time()
            failed_rounds = 0
            while True:
                now = loop.time()
                answered = None
                if now >= next_fast:
                    readings, answered = await asyncio.to_thread(self._query_group, self.config.fast_pids)
                    for r in readings:
                        self.on_reading(r)
                    next_fast = now + 1 / self.config.fast_hz
                if now >= next_slow:
                    readings, n = await asyncio.to_thread(self._query_group, self.config.slow_pids)
                    for r in readings:
                        self.on_reading(r)
                    answered = (answered or 0) + n
                    next_slow = now + 1 / self.config.slow_hz
                if now >= next_dtc:
                    report = await asyncio.to_thread(self._query_dtcs)
                    if report is not None:
                        self.on_report(report)
                    next_dtc = now + self.config.dtc_seconds
                if answered is not None:
                    failed_rounds = failed_rounds + 1 if answered == 0 else 0
                    if failed_rounds >= MAX_FAILED_ROUNDS:
                        raise ConnectionError("adapter stopped answering")
                await asyncio.sleep(max(0.0, min(next_fast, next_slow, next_dtc) - loop.time()))
        finally:
            connection, self._connection = self._connection, None
            await asyncio.to_thread(connection.close)

    async def run(self) -> None:
        """Read forever, reconnecting with exponential back-off after any failure."""
        backoff = 0.5
        while True:
            try:
                await self._session()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # serial errors, garbage, a vanished device: all mean reconnect
                self.state.last_error = repr(exc)
                log.warning("adapter %s lost: %r; retrying in %.1fs", self.config.vehicle_id, exc, backoff)
            if self.state.status == "connected":
                backoff = 0.5  # the link worked for a while: start the back-off afresh
            self._set_status("disconnected")
            self.state.reconnects += 1
            await asyncio.sleep(backoff)
            backoff = min(self.config.max_backoff, backoff * 2)
