"""Vehicle alerts: the open/closed history and, in the same transaction, one outbox event per
raise or clear (so an alert reaches `vehicle-alerts` exactly when it is stored)."""

from __future__ import annotations

from typing import Any

import asyncpg

from db.events import VehicleAlertEvent
from db.outbox import VEHICLE_ALERT_OUTBOX, insert_events


async def record_alert_events(conn: asyncpg.Connection, events: list[VehicleAlertEvent]) -> None:
    """Apply raises and clears to vehicle_alerts and queue them in the alert outbox.
    Call inside the transaction that stores what caused them."""
    if not events:
        return
    await conn.executemany(
        """INSERT INTO vehicle_alerts (vehicle_id, tenant_id, key, severity, message, value, raised_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING""",
        [(e.vehicle_id, e.tenant_id, e.alert_key, e.severity, e.message, e.value, e.raised_at)
         for e in events if e.event_type == "VehicleAlertRaised"])
    await conn.executemany(
        """UPDATE vehicle_alerts SET cleared_at = $3
            WHERE vehicle_id = $1 AND key = $2 AND cleared_at IS NULL""",
        [(e.vehicle_id, e.alert_key, e.occurred_at) for e in events if e.event_type == "VehicleAlertCleared"])
    await insert_events(conn, VEHICLE_ALERT_OUTBOX, [
        (e.event_id, e.vehicle_id, e.event_type, e.model_dump(mode="json")) for e in events])


async def open_alerts(conn, vehicle_id: str) -> list[dict[str, Any]]:
    """The vehicle's alerts not yet cleared (to re-activate its live state)."""
    return [dict(r) for r in await conn.fetch(
        """SELECT key, severity, message, value, raised_at FROM vehicle_alerts
            WHERE vehicle_id = $1 AND cleared_at IS NULL ORDER BY raised_at""", vehicle_id)]
