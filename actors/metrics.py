"""Prometheus metrics of the actors: the outbox relays' (ADR-023 section 6.1 names), the
maintenance sweep's, the entity shards' and the vehicles'.

Counters and histograms live in whichever process does the work. The launcher sets
PROMETHEUS_MULTIPROC_DIR for every process it starts, so one scrape endpoint (cluster/
metrics_server.py) aggregates them with the API's (serve_apps/metrics.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import Counter, Gauge, Histogram

from db.outbox import OUTBOXES

# livesum: a restarted or removed shard's last value does not linger in the sum.
ENTITIES_ACTIVE = Gauge("entities_active", "Entities activated in the shards, by kind", ["kind"],
                        multiprocess_mode="livesum")
VEHICLE_READINGS = Counter("vehicle_readings_total", "Readings the vehicle actors stored")
VEHICLE_ALERTS = Counter("vehicle_alerts_total", "Vehicle alerts raised or cleared", ["change", "severity"])
MAINTENANCE_PREDICTIONS = Counter(
    "maintenance_sweep_predictions_total", "Vehicles the maintenance sweep predicted, by model family", ["family"])
MAINTENANCE_SWEEP_DURATION = Histogram(
    "maintenance_sweep_duration_seconds", "Time of one maintenance sweep round",
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0))


@dataclass(frozen=True)
class OutboxMetrics:
    """A relay's metrics, named after its outbox table (booking_outbox_* as in the ADR)."""

    published: Counter
    retry_count: Histogram


def _outbox_metrics(table: str) -> OutboxMetrics:
    return OutboxMetrics(
        Counter(f"{table}_events_published_total", "Outbox events published to Kafka", ["status"]),
        Histogram(f"{table}_retry_count", "Failed attempts an event had before it was published",
                  buckets=(0, 1, 2, 3, 4, 5)))


OUTBOX_METRICS = {t.name: _outbox_metrics(t.name) for t in OUTBOXES.values()}
