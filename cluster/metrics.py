"""Prometheus metrics with the ADR-023 names (section 6.1).

Counters and histograms live in whichever process does the work (Serve replicas, relay
actors). The stack sets PROMETHEUS_MULTIPROC_DIR for every process it starts, so one scrape
endpoint (`fleetray` metrics server) aggregates them; the outbox gauges are read from
PostgreSQL at scrape time, so they are right whichever relay is running.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

CANCELLATION_REQUESTS = Counter(
    "booking_cancellation_requests_total", "Cancellation requests by outcome", ["status"])
CANCELLATION_DURATION = Histogram(
    "booking_cancellation_duration_seconds", "Cancellation request latency",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0))
CANCELLATION_ERRORS = Counter(
    "booking_cancellation_errors_total", "Cancellation errors by type", ["error_type"])
OUTBOX_PUBLISHED = Counter(
    "booking_outbox_events_published_total", "Outbox events published to Kafka", ["status"])
OUTBOX_RETRY_COUNT = Histogram(
    "booking_outbox_retry_count", "Failed attempts an event had before it was published",
    buckets=(0, 1, 2, 3, 4, 5))

# Gauges computed from the database by the metrics server (cluster/metrics_server.py).
OUTBOX_GAUGES = {
    "booking_outbox_size": "Unprocessed outbox events",
    "booking_outbox_processing_lag_seconds": "Age of the oldest unprocessed outbox event",
    "booking_outbox_dlq_size": "Events in the dead-letter table",
}
