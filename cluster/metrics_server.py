"""The scrape endpoint: counters from every process of the node (prometheus-client's multiprocess
mode, whose directory PROMETHEUS_MULTIPROC_DIR names) plus outbox gauges read from PostgreSQL at
scrape time. The system controller (cluster/system_app.py) serves it."""

from __future__ import annotations

import asyncio
import os

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from db.outbox import OUTBOXES, outbox_stats

# One set per outbox table, computed from the database at scrape time, so they are right
# whichever relay is running: <table>_size, <table>_processing_lag_seconds, <table>_dlq_size.
OUTBOX_GAUGES = {
    "size": "Unprocessed outbox events",
    "processing_lag_seconds": "Age of the oldest unprocessed outbox event",
    "dlq_size": "Events in the dead-letter table",
}


class OutboxGaugeCollector:
    """Queries the outbox on the controller's event loop whenever Prometheus scrapes."""

    def __init__(self, pool, loop: asyncio.AbstractEventLoop):
        self.pool = pool
        self.loop = loop

    def collect(self):
        for table in OUTBOXES.values():
            try:
                stats = asyncio.run_coroutine_threadsafe(outbox_stats(self.pool, table), self.loop).result(5)
            except Exception:
                return  # database down: the gauges are absent rather than wrong
            values = {"size": stats.size, "processing_lag_seconds": stats.lag_seconds,
                      "dlq_size": stats.dlq_size}
            for suffix, help_text in OUTBOX_GAUGES.items():
                gauge = GaugeMetricFamily(f"{table.name}_{suffix}", help_text)
                gauge.add_metric([], values[suffix])
                yield gauge


def start_metrics_server(host: str, port: int, pool, loop) -> None:
    registry = CollectorRegistry()
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:  # else only the outbox gauges
        MultiProcessCollector(registry)
    registry.register(OutboxGaugeCollector(pool, loop))
    start_http_server(port, addr=host, registry=registry)
