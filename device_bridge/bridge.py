"""The device bridge: runs many adapter readers, batches their output and delivers it to the
vehicle entity actors (one `ingest` message per vehicle per batch, sent through the shard
router, which batches again per shard). A vehicle whose adapter drops shows `disconnected`."""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
from collections import defaultdict
from typing import Any

import ray

from actors.background import BackgroundLoopActor
from actors.gc_tuning import tune_for_many_long_lived_objects
from actors.topology import vehicle_router
from actors.vehicle import VehicleClient
from db.readings import DtcReport, Reading
from device_bridge.batcher import ReadingBatcher
from device_bridge.obd_reader import AdapterConfig, AdapterReader, Status

log = logging.getLogger(__name__)

DRAIN_SECONDS = 5.0  # how long disconnect() waits for batches already sent
RETRY_SECONDS = (0.5, 1.0, 2.0, 5.0)  # back-off for a batch a vehicle could not store; the last repeats
# The vehicle's own answer about the data (domain errors): sending it again would change nothing.
FINAL_REFUSALS = ("NOT_FOUND:", "INVALID_REQUEST:")


class DeviceBridge:
    def __init__(self, vehicles: VehicleClient, tenant_id: str, adapters: list[AdapterConfig],
                 batcher: ReadingBatcher | None = None, max_in_flight: int = 3):
        self.vehicles = vehicles
        self.max_in_flight = max_in_flight
        self.tenant_id = tenant_id
        self.batcher = batcher or ReadingBatcher()
        self.readers = {a.vehicle_id: AdapterReader(a, self.batcher.add_reading, self.batcher.add_report,
                                                    self._on_status) for a in adapters}
        self.delivered = 0
        self.retried = 0
        self._status_updates: set[asyncio.Task] = set()
        self._in_flight: set[asyncio.Task] = set()

    def _on_status(self, vehicle_id: str, status: Status) -> None:
        task = asyncio.ensure_future(self.vehicles.set_connection(
            vehicle_id, tenant_id=self.tenant_id, status=status, vin=self.readers[vehicle_id].state.vin))
        self._status_updates.add(task)
        task.add_done_callback(self._status_updates.discard)

    async def deliver(self, readings: list[Reading], reports: list[DtcReport]) -> None:
        """Send one batch, grouped by vehicle; waits until every vehicle acknowledged it."""
        by_vehicle: dict[str, dict[str, list]] = defaultdict(lambda: {"readings": [], "reports": []})
        for r in readings:
            by_vehicle[r.vehicle_id]["readings"].append(r.values())
        for report in reports:  # the freeze frames go along only when there are some
            by_vehicle[report.vehicle_id]["reports"].append(
                (dict(report.codes), report.captured_at, report.freeze_frames) if report.freeze_frames
                else (dict(report.codes), report.captured_at))
        to_send = dict(by_vehicle)
        for attempt in itertools.count():
            refused = await self.vehicles.ingest_many(self.tenant_id, to_send)
            for vehicle_id, problem in refused.items():
                if problem.startswith(FINAL_REFUSALS):
                    log.warning("vehicle %s refused a batch: %s", vehicle_id, problem)
            to_send = {vehicle_id: to_send[vehicle_id] for vehicle_id, problem in refused.items()
                       if not problem.startswith(FINAL_REFUSALS)}
            if not to_send:
                break
            # The database or a shard is failing: keep the data and send it again, never drop it.
            delay = RETRY_SECONDS[min(attempt, len(RETRY_SECONDS) - 1)]
            log.warning("%d vehicles could not store a batch (%s); retrying in %.1f s",
                        len(to_send), next(iter(refused.values())), delay)
            self.retried += 1
            await asyncio.sleep(delay)
        self.delivered += len(readings)

    async def disconnect(self) -> None:
        """Show every vehicle disconnected: the bridge is going away, nobody reads them now.
        Batches and status updates already on their way land first (a batch arriving after
        would show its vehicle connected again)."""
        pending = self._in_flight | self._status_updates
        if pending:
            await asyncio.wait(pending, timeout=DRAIN_SECONDS)
        replies = await asyncio.gather(*(
            self.vehicles.set_connection(vehicle_id, tenant_id=self.tenant_id, status="disconnected",
                                         vin=reader.state.vin)
            for vehicle_id, reader in self.readers.items()), return_exceptions=True)
        for vehicle_id, reply in zip(self.readers, replies):
            if isinstance(reply, BaseException):
                log.warning("vehicle %s not marked disconnected: %r", vehicle_id, reply)

    async def run(self) -> None:
        """Read and deliver; up to max_in_flight batches travel at once, so the next batch is
        on its way while the vehicles commit the previous one (a vehicle's mailbox keeps its
        batches in order, and its live state orders readings by capture time anyway)."""
        readers = [asyncio.ensure_future(reader.run()) for reader in self.readers.values()]
        slots = asyncio.Semaphore(self.max_in_flight)
        try:
            while True:
                batch = await self.batcher.next_batch()
                await slots.acquire()
                delivery = asyncio.ensure_future(self.deliver(*batch))
                self._in_flight.add(delivery)
                delivery.add_done_callback(self._in_flight.discard)
                delivery.add_done_callback(lambda _: slots.release())
        finally:
            for task in readers:
                task.cancel()


@ray.remote(max_restarts=-1)
class DeviceBridgeActor(BackgroundLoopActor):
    """A bridge as a Ray actor serving many adapters (`fleetray run` starts one for the demo
    fleet). Adapters are dicts of AdapterConfig fields."""

    def __init__(self, tenant_id: str, adapters: list[dict[str, Any]]):
        self.bridge = DeviceBridge(VehicleClient(vehicle_router()), tenant_id,
                                   [AdapterConfig(**a) for a in adapters])
        tune_for_many_long_lived_objects()
        self.start_when_constructed()

    def loop(self):
        return self.bridge.run()

    async def stop(self) -> None:
        """Stop reading and show the vehicles disconnected (before the actor is removed)."""
        await super().stop()
        await self.bridge.disconnect()

    async def stats(self) -> dict[str, Any]:
        return {"pid": os.getpid(), "delivered": self.bridge.delivered, "retried": self.bridge.retried,
                "dropped": self.bridge.batcher.dropped,
                "adapters": {vid: r.state.status for vid, r in self.bridge.readers.items()},
                "running": self.running}
