"""The maintenance sweep: predicts the fleet's active vehicles periodically, so that a
maintenance alert is raised when a vehicle's data crosses a model's threshold, not only when
someone asks for that vehicle's predictions.

Each round it reads the active vehicles from the shards (without keeping them activated), takes
those with readings since they were last swept, and runs actors/predictions.py for them in
chunks: one model request per family per chunk. Alerts go through the vehicles' entities and
the alert outbox like every other alert.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import ray

from actors import metrics
from actors.background import BackgroundLoopActor
from actors.topology import vehicle_router
from actors.logs import configure_json_logging
from actors.predictions import VehiclePredictor, VehicleRef
from actors.vehicle import VehicleClient
from db.pool import create_pool
from ml import live
from ml.deployments import model_server_handle
from ml.model_client import ModelCatalog, ModelClient
from ml.registry import ModelRegistry
from ml.trip_summaries import TripSummaryCache

log = logging.getLogger(__name__)

CHUNK_VEHICLES = 64  # vehicles per model request: big enough to batch, small enough not to hog a replica


@dataclass
class SweepReport:
    active: int = 0
    due: int = 0  # active vehicles with readings since they were last swept
    predicted: dict[str, int] = field(default_factory=dict)  # family -> vehicles it predicted
    alerts_raised: int = 0
    alerts_cleared: int = 0
    failed_chunks: int = 0
    seconds: float = 0.0


@ray.remote(max_restarts=-1)
class MaintenanceSweepActor(BackgroundLoopActor):
    def __init__(self, database_url: str, registry_uri: str, interval_seconds: float):
        configure_json_logging()
        self.database_url = database_url
        self.registry_uri = registry_uri
        self.interval_seconds = interval_seconds
        self.vehicles = VehicleClient(vehicle_router())
        self._predictor: VehiclePredictor | None = None
        self._swept: dict[str, datetime] = {}  # vehicle id -> its last_seen when it was last swept
        self.start_when_constructed()

    async def loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval_seconds)
            try:
                await self.sweep()
            except Exception:  # the database, a shard or Serve mid-restart: the next round retries
                log.warning("maintenance sweep failed", exc_info=True)

    async def predictor(self) -> VehiclePredictor:
        if self._predictor is None:
            pool = await create_pool(self.database_url, min_size=1, max_size=2)
            catalog = ModelCatalog(ModelRegistry(pool, self.registry_uri))
            handles = {family: model_server_handle(family) for family in live.LIVE_WINDOWS}
            self._predictor = VehiclePredictor(self.vehicles, ModelClient(catalog, handles), TripSummaryCache())
        return self._predictor

    async def sweep(self) -> dict[str, Any]:
        """One round; returns its report (also logged)."""
        started = time.monotonic()
        predictor = await self.predictor()
        active = {vehicle_id: summary for vehicle_id, summary in (await self.vehicles.active_summaries()).items()
                  if summary is not None and summary["last_seen"] is not None}
        due = [vehicle_id for vehicle_id, summary in active.items()
               if self._swept.get(vehicle_id) != summary["last_seen"]]
        families = sorted(set(await predictor.models.catalog.served()) & set(live.LIVE_WINDOWS))
        report = SweepReport(active=len(active), due=len(due), predicted=dict.fromkeys(families, 0))
        for first in range(0, len(due) if families else 0, CHUNK_VEHICLES):
            chunk = due[first:first + CHUNK_VEHICLES]
            try:
                predictions = await predictor.predict(
                    [VehicleRef(vehicle_id, active[vehicle_id]["tenant_id"]) for vehicle_id in chunk], families)
            except Exception:  # one chunk's vehicles wait for the next round; the others go on
                log.warning("maintenance sweep: a chunk of %d vehicles failed", len(chunk), exc_info=True)
                report.failed_chunks += 1
                continue
            for vehicle_id, prediction in zip(chunk, predictions):
                self._swept[vehicle_id] = active[vehicle_id]["last_seen"]
                for family, result in prediction.results.items():
                    report.predicted[family] += "outputs" in result
                for alert in prediction.alerts:
                    report.alerts_raised += alert["change"] == "raised"
                    report.alerts_cleared += alert["change"] == "cleared"
        self._swept = {vehicle_id: seen for vehicle_id, seen in self._swept.items() if vehicle_id in active}
        report.seconds = round(time.monotonic() - started, 3)
        metrics.MAINTENANCE_SWEEP_DURATION.observe(report.seconds)  # via the module: Ray pickles this class
        for family, count in report.predicted.items():
            if count:  # a Ray counter takes positive increments only
                metrics.MAINTENANCE_PREDICTIONS.inc(count, tags={"family": family})
        log.info("maintenance sweep: %s", asdict(report))
        return asdict(report)
