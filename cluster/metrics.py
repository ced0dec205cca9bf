"""Prometheus metrics: the ADR-023 names (section 6.1), and the maintenance sweep's.

Counters and histograms live in whichever process does the work (Serve replicas, relay
actors). The stack sets PROMETHEUS_MULTIPROC_DIR for every process it starts, so one scrape
endpoint (`fleetray` metrics server) aggregates them; the outbox gauges are read from
PostgreSQL at scrape time, so they are right whichever relay is running.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import Counter, Histogram

from db.outbox import OUTBOXES

CANCELLATION_REQUESTS = Counter(
    "booking_cancellation_requests_total", "Cancellation requests by outcome", ["status"])
CANCELLATION_DURATION = Histogram(
    "booking_cancellation_duration_seconds", "Cancellation request latency",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0))
CANCELLATION_ERRORS = Counter(
    "booking_cancellation_errors_total", "Cancellation errors by type", ["error_type"])

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

# Gauges computed from the database by the metrics server (cluster/metrics_server.py),
# one set per outbox table: <table>_size, <table>_processing_lag_seconds, <table>_dlq_size.
OUTBOX_GAUGES = {
    "size": "Unprocessed outbox events",
    "processing_lag_seconds": "Age of the oldest unprocessed outbox event",
    "dlq_size": "Events in the dead-letter table",
}
