"""Metrics of the API: the cancellation's (ADR-023 section 6.1 names), the live streams' and the
rate limits', recorded in the API replicas and exported by Ray's metrics agent of their node
(as the actors' are: actors/metrics.py)."""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterator
from contextlib import contextmanager

from ray.util.metrics import Counter, Gauge, Histogram

CANCELLATION_REQUESTS = Counter(
    "booking_cancellation_requests_total", "Cancellation requests by outcome", tag_keys=("status",))
CANCELLATION_DURATION = Histogram(
    "booking_cancellation_duration_seconds", "Cancellation request latency",
    boundaries=[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0])
CANCELLATION_ERRORS = Counter(
    "booking_cancellation_errors_total", "Cancellation errors by type", tag_keys=("error_type",))
STREAM_CLIENTS = Gauge(
    "stream_clients", "Clients connected to a live stream, by stream (vehicle SSE, vehicle WebSocket, fleet SSE)",
    tag_keys=("stream",))
RATE_LIMITED = Counter(
    "rate_limited_requests_total", "Requests refused 429 RATE_LIMITED, by route group and by whose limit (caller or tenant)",
    tag_keys=("group", "scope"))

_connected = Tally()  # this replica's clients per stream, which STREAM_CLIENTS reports


@contextmanager
def stream_client(stream: str) -> Iterator[None]:
    """Count one client of `stream` for as long as the block runs."""
    _connected[stream] += 1
    STREAM_CLIENTS.set(_connected[stream], tags={"stream": stream})
    try:
        yield
    finally:
        _connected[stream] -= 1
        STREAM_CLIENTS.set(_connected[stream], tags={"stream": stream})
