"""Model predictions for vehicles, and the maintenance alerts they raise or clear.

Each vehicle's entity reads its live windows out of its telemetry (ml/live.py); the instances of
many vehicles go to a family's model deployment in one call; then each vehicle's entity raises
or clears its `maintenance:<family>` alerts. `GET /v1/vehicles/{id}/predictions` runs this for
one vehicle, the maintenance sweep (actors/maintenance_sweep.py) for the whole active fleet.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Sequence

import numpy as np

from actors.vehicle import VehicleClient
from db.errors import DomainError
from ml import live
from ml.model_client import ModelClient
from ml.trip_summaries import TripSummaryCache

Result = dict[str, Any]  # {"version", "role", "outputs", "thresholds", "window", ...} or {"unavailable": reason}


@dataclass(frozen=True)
class VehicleRef:
    vehicle_id: str
    tenant_id: str  # the caller's tenant: the entity refuses another tenant's asks (NOT_FOUND)


@dataclass(frozen=True)
class VehiclePrediction:
    results: dict[str, Result]  # by family
    alerts: list[dict[str, Any]]  # the alert changes these predictions made


class VehiclePredictor:
    def __init__(self, vehicles: VehicleClient, models: ModelClient, trip_summaries: TripSummaryCache):
        self.vehicles = vehicles
        self.models = models
        self.trip_summaries = trip_summaries

    async def predict(self, targets: Sequence[VehicleRef], families: Sequence[str]) -> list[VehiclePrediction]:
        """Every family's result for every target, and the alerts each vehicle then raised or
        cleared. An entity's domain error (another tenant's vehicle) raises as a DomainError."""
        columns = await asyncio.gather(*(self.predict_family(family, targets) for family in families))
        results = [{family: column[i] for family, column in zip(families, columns)} for i in range(len(targets))]
        changes = await asyncio.gather(*(
            self.vehicles.maintenance(target.vehicle_id, tenant_id=target.tenant_id,
                                      predictions={family: r for family, r in by_family.items() if "outputs" in r})
            for target, by_family in zip(targets, results)))
        return [VehiclePrediction(by_family, alerts) for by_family, alerts in zip(results, changes)]

    async def predict_family(self, family: str, targets: Sequence[VehicleRef]) -> list[Result]:
        """One result per target; the targets' instances go to the model in one request."""
        window = live.LIVE_WINDOWS.get(family)
        if window is None:
            return [{"unavailable": "no live inputs"} for _ in targets]
        known = [self.trip_summaries.known(target.vehicle_id) if window.history_days else {} for target in targets]
        replies = await asyncio.gather(*(
            self.vehicles.window(target.vehicle_id, tenant_id=target.tenant_id, spec=window,
                                 known_ends=list(ends))
            for target, ends in zip(targets, known)))
        results: list[Result] = [{} for _ in targets]
        instances, owners = [], []
        windows = [reply.window for reply in replies]
        for i, (latest, reply) in enumerate(zip(windows, replies)):
            if latest is None:
                results[i] = {"unavailable": reply.reason}
                continue
            try:
                history = self._day_summaries(targets[i].vehicle_id, latest.get("history", ()), known[i])
                instances.append(live.instance(family, latest["signals"], history, latest.get("km_since_pad_change")))
                owners.append(i)
            except live.NotEnoughData as exc:
                results[i] = {"unavailable": str(exc)}
        if not instances:
            return results
        try:
            answer = await self.models.predict(family, instances)
        except DomainError as exc:
            if exc.code != "UNAVAILABLE":
                raise
            for i in owners:
                results[i] = {"unavailable": exc.message}
            return results
        for i, outputs in zip(owners, answer["predictions"]):
            latest = windows[i]
            result = {
                "version": answer["version"], "role": answer["role"], "outputs": outputs,
                "thresholds": answer["thresholds"],
                "window": {"start": latest["start"], "step_seconds": latest["step_seconds"], "samples": window.samples,
                           **{k: latest[k] for k in ("km_since_pad_change", "pad_changed_at") if k in latest}}}
            if "history" in latest:
                result["earlier_windows"] = [{"days_before": k, "start": day["start"]}
                                             for k, day in enumerate(latest["history"], start=1) if day]
            results[i] = result
        return results

    def _day_summaries(self, vehicle_id: str, history: Sequence[dict | None],
                       known: dict[datetime, np.ndarray]) -> list[np.ndarray | None]:
        """Each earlier day's trip summary: known ones from the cache, the others from the grids
        the entity read; the cache then keeps what this prediction used."""
        summaries = [None if day is None else known[day["end"]] if "signals" not in day
                     else live.engine_trip_summary(day["signals"]) for day in history]
        if history:
            self.trip_summaries.keep(vehicle_id, {day["end"]: summary for day, summary in zip(history, summaries)
                                                  if day is not None})
        return summaries
