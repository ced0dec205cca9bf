"""Metrics of the actors: the outbox relays' (ADR-023 section 6.1 names), the maintenance
sweep's, the entity shards' and the vehicles'.

They are Ray's application metrics (ray.util.metrics): each process records its own, and the
metrics agent of its node exports them (with a `ray_` prefix that cluster/prometheus/
prometheus.yml takes off), so a Prometheus that scrapes every node sees them wherever the
actors run. A gauge's series ends with its process: a restarted or removed shard's last value
does not linger in a sum.
"""

from __future__ import annotations

from dataclasses import dataclass

from ray.util.metrics import Counter, Gauge, Histogram

from db.outbox import OUTBOXES

ENTITIES_ACTIVE = Gauge("entities_active", "Entities activated in the shards, by kind", tag_keys=("kind",))
VEHICLE_READINGS = Counter("vehicle_readings_total", "Readings the vehicle actors stored")
VEHICLE_ALERTS = Counter("vehicle_alerts_total", "Vehicle alerts raised or cleared", tag_keys=("change", "severity"))
MAINTENANCE_PREDICTIONS = Counter(
    "maintenance_sweep_predictions_total", "Vehicles the maintenance sweep predicted, by model family",
    tag_keys=("family",))
MAINTENANCE_SWEEP_DURATION = Histogram(
    "maintenance_sweep_duration_seconds", "Time of one maintenance sweep round",
    boundaries=[0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0])


@dataclass(frozen=True)
class OutboxMetrics:
    """A relay's metrics, named after its outbox table (booking_outbox_* as in the ADR)."""

    published: Counter
    retry_count: Histogram


def _outbox_metrics(table: str) -> OutboxMetrics:
    return OutboxMetrics(
        Counter(f"{table}_events_published_total", "Outbox events published to Kafka", tag_keys=("status",)),
        # Ray's buckets must be positive: le=0.5 counts the events published at the first try.
        Histogram(f"{table}_retry_count", "Failed attempts an event had before it was published",
                  boundaries=[0.5, 1.5, 2.5, 3.5, 4.5, 5.5]))


OUTBOX_METRICS = {t.name: _outbox_metrics(t.name) for t in OUTBOXES.values()}

@dataclass(frozen=True)
class DeliveryAuditMetrics:
    """The delivery audit's (actors/delivery_audit.py) for one outbox, per reader of its topic."""
    unapplied: Gauge
    oldest_unapplied_seconds: Gauge
    republished: Counter


def _delivery_audit_metrics(table: str) -> DeliveryAuditMetrics:
    return DeliveryAuditMetrics(
        Gauge(f"{table}_unapplied_events",
              "Events published more than the grace period ago that a reader (consumer group, feed) has not applied",
              tag_keys=("group",)),
        Gauge(f"{table}_oldest_unapplied_seconds", "Age of the oldest published event a reader has not applied",
              tag_keys=("group",)),
        Counter(f"{table}_events_republished_total", "Events the delivery audit published again for a reader",
                tag_keys=("group",)))


DELIVERY_AUDIT_METRICS = {t.name: _delivery_audit_metrics(t.name) for t in OUTBOXES.values()}
