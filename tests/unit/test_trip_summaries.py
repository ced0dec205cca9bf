"""The cache of earlier trips' summaries keeps what each vehicle's latest prediction used, and
drops the vehicles least recently predicted first."""

from datetime import datetime, timedelta, timezone

import numpy as np

from ml.trip_summaries import TripSummaryCache

DAY = datetime(2026, 11, 20, 8, tzinfo=timezone.utc)


def test_a_prediction_replaces_the_vehicles_summaries_and_known_is_a_snapshot():
    cache = TripSummaryCache()
    cache.keep("a", {DAY: np.ones(4), DAY - timedelta(days=1): np.zeros(4)})
    snapshot = cache.known("a")
    cache.keep("a", {DAY + timedelta(days=1): np.full(4, 2.0), DAY: np.ones(4)})
    assert set(cache.known("a")) == {DAY + timedelta(days=1), DAY}, "a day out of the window is gone"
    assert set(snapshot) == {DAY, DAY - timedelta(days=1)}, "what a prediction asked with stays as it was"
    assert cache.known("nobody") == {}


def test_the_least_recently_predicted_vehicle_goes_first():
    cache = TripSummaryCache(max_vehicles=2)
    cache.keep("a", {DAY: np.ones(4)})
    cache.keep("b", {DAY: np.ones(4)})
    cache.keep("a", {DAY: np.ones(4)})
    cache.keep("c", {DAY: np.ones(4)})
    assert cache.known("b") == {} and cache.known("a") and cache.known("c")
