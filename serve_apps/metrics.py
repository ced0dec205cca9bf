"""Prometheus metrics of the API: the cancellation's (ADR-023 section 6.1 names) and the live
streams', counted in the API replicas and scraped with every other process's
(cluster/metrics_server.py)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

CANCELLATION_REQUESTS = Counter(
    "booking_cancellation_requests_total", "Cancellation requests by outcome", ["status"])
CANCELLATION_DURATION = Histogram(
    "booking_cancellation_duration_seconds", "Cancellation request latency",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0))
CANCELLATION_ERRORS = Counter(
    "booking_cancellation_errors_total", "Cancellation errors by type", ["error_type"])
STREAM_CLIENTS = Gauge(
    "stream_clients", "Clients connected to a live stream, by stream (vehicle SSE, vehicle WebSocket, fleet SSE)",
    ["stream"], multiprocess_mode="livesum")
