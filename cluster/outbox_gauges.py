"""The outboxes' gauges, one set per outbox table (ADR-023 section 6.1 names: <table>_size,
<table>_processing_lag_seconds, <table>_dlq_size). The system controller reads them from
PostgreSQL every few seconds, so they are right whichever relay runs, and Ray's metrics agent of
its node exports them with every other fleetray metric (actors/metrics.py)."""

from __future__ import annotations

from ray.util.metrics import Gauge

from db.outbox import OUTBOXES, outbox_stats

OUTBOX_GAUGES = {
    "size": "Unprocessed outbox events",
    "processing_lag_seconds": "Age of the oldest unprocessed outbox event",
    "dlq_size": "Events in the dead-letter table",
}

GAUGES = {(table.name, suffix): Gauge(f"{table.name}_{suffix}", help_text)
          for table in OUTBOXES.values() for suffix, help_text in OUTBOX_GAUGES.items()}


async def update_outbox_gauges(pool) -> None:
    for table in OUTBOXES.values():
        stats = await outbox_stats(pool, table)
        values = {"size": stats.size, "processing_lag_seconds": stats.lag_seconds, "dlq_size": stats.dlq_size}
        for suffix, value in values.items():
            GAUGES[(table.name, suffix)].set(value)
