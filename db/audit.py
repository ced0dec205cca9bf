"""Audit log rows (who did what to which booking, from where, with what outcome)."""

from __future__ import annotations

from dataclasses import astuple, dataclass
from datetime import datetime

import asyncpg


@dataclass(frozen=True)
class AuditRecord:
    occurred_at: datetime
    action: str
    tenant_id: str
    user_id: str
    ip_address: str | None
    booking_id: str | None
    outcome: str
    request_id: str | None


async def insert_audit_records(conn: asyncpg.Connection | asyncpg.Pool, records: list[AuditRecord]) -> None:
    await conn.executemany(
        """INSERT INTO audit_log (occurred_at, action, tenant_id, user_id, ip_address,
                                  booking_id, outcome, request_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)""",
        [astuple(r) for r in records],
    )
