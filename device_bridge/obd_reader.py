"""Reads one ELM327 adapter with python-obd: VIN once, a fast and a slow PID group each at its
own rate (only PIDs the car supports), stored trouble codes periodically. Values keep their
units. A dropped or garbled adapter is reconnected with back-off while its vehicle shows
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

from device_bridge.readings import DtcReport, Reading

log = logging.getLogger(__name__)

FAST_PIDS = ("RPM", "SPEED", "ENGINE_LOAD", "THROTTLE_POS")
SLOW_PIDS = ("COOLANT_TEMP", "CONTROL_MODULE_VOLTAGE", "FUEL_LEVEL", "INTAKE_TEMP",
             "OIL_TEMP", "AMBIANT_AIR_TEMP", "MAF", "TIMING_ADVANCE")
Status = Literal["connecting", "connected", "disconnected"]
MAX_FAILED_ROUNDS = 3  # consecutive rounds with no valid answer before the link counts as lost


@dataclass
class AdapterConfig:
    vehicle_id: str
    port: str                 # serial device, Bluetooth rfcomm device, or pty of an emulator
    baudrate: int | None = 38400
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


def to_reading(vehicle_id: str, pid: str, response: obd.OBDResponse, at: datetime) -> Reading | None:
    """A python-obd answer as a Reading (magnitude and unit name), or None if it is empty."""
    value = response.value
    if response.is_null() or value is None:
        return None
    if hasattr(value, "magnitude"):
        return Reading(vehicle_id, pid, float(value.magnitude), str(value.units), at)
    if isinstance(value, (int, float)):
        return Reading(vehicle_id, pid, float(value), None, at)
    return None


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
        connection = obd.OBD(self.config.port, baudrate=self.config.baudrate, fast=False,
                             timeout=self.config.connect_timeout)
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
        if response.is_null():
            return None
        return DtcReport(self.config.vehicle_id, tuple((code, desc or "") for code, desc in response.value),
                         datetime.now(timezone.utc))

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
