"""Summaries of vehicles' earlier trips, kept between predictions.

The engine model reads a vehicle's last 28 days (ml/live.py). An earlier day's trip does not
change once driven, so each is read out of PostgreSQL and summarised once, then found here by
the end of its window; only new days cost a grid query, so a prediction reads one window out
of PostgreSQL instead of 28.
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime

import numpy as np

MAX_VEHICLES = 50_000  # ~27 summaries of 4 numbers each per vehicle: a few KB


class TripSummaryCache:
    """Per vehicle, the summaries its latest prediction used, by window end; the vehicles least
    recently predicted are dropped first."""

    def __init__(self, max_vehicles: int = MAX_VEHICLES):
        self.max_vehicles = max_vehicles
        self._by_vehicle: OrderedDict[str, dict[datetime, np.ndarray]] = OrderedDict()

    def known(self, vehicle_id: str) -> dict[datetime, np.ndarray]:
        """The vehicle's summaries as they are now (a copy: a prediction uses what it asked with)."""
        return dict(self._by_vehicle.get(vehicle_id, {}))

    def keep(self, vehicle_id: str, summaries: dict[datetime, np.ndarray]) -> None:
        """Replace the vehicle's summaries by those its latest prediction used."""
        self._by_vehicle[vehicle_id] = summaries
        self._by_vehicle.move_to_end(vehicle_id)
        while len(self._by_vehicle) > self.max_vehicles:
            self._by_vehicle.popitem(last=False)
