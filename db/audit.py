"""Audit log rows: who changed what (a target, by kind and id), in which tenant, from where,
with what outcome. Every state change writes one, through the API or the CLI."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

# The tenant of changes that apply to every tenant (feature flags, model versions): each
# tenant's operators read them beside their own.
EVERY_TENANT = "*"


@dataclass(frozen=True)
class AuditRecord:
    occurred_at: datetime
    action: str
    tenant_id: str
    user_id: str
    ip_address: str | None
    target_type: str
    target_id: str | None  # None where the change failed before it had a target (a refused create)
    outcome: str
    request_id: str | None

    def row(self) -> tuple:
        # booking_id is ADR-023's column, kept for booking targets.
        booking_id = self.target_id if self.target_type == "booking" else None
        return (self.occurred_at, self.action, self.tenant_id, self.user_id, self.ip_address, booking_id,
                self.target_type, self.target_id, self.outcome, self.request_id)


async def insert_audit_records(conn: asyncpg.Connection | asyncpg.Pool, records: list[AuditRecord]) -> None:
    """One statement for the whole batch (an array per column): PostgreSQL plans and executes it
    once, where a row-by-row executemany executes it once per record."""
    if not records:
        return
    await conn.execute(
        """INSERT INTO audit_log (occurred_at, action, tenant_id, user_id, ip_address, booking_id,
                                  target_type, target_id, outcome, request_id)
           SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::text[], $6::uuid[],
                                $7::text[], $8::text[], $9::text[], $10::text[])""",
        *map(list, zip(*(r.row() for r in records))),
    )


@dataclass(frozen=True)
class AuditQuery:
    """Filters of a read; None matches anything. `before_id` pages back from an earlier read."""
    actor: str | None = None
    action: str | None = None
    target_type: str | None = None
    target_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    before_id: int | None = None
    limit: int = 100


async def audit_records(conn: asyncpg.Connection, query: AuditQuery) -> list[dict[str, Any]]:
    """Records matching `query`, the last written first, from a tenant-scoped connection (db/tenancy.py):
    row-level security keeps them to its tenant and EVERY_TENANT."""
    rows = await conn.fetch(
        """SELECT id, occurred_at, action, tenant_id, user_id, ip_address, target_type, target_id,
                  outcome, request_id
             FROM audit_log
            WHERE ($1::text IS NULL OR user_id = $1) AND ($2::text IS NULL OR action = $2)
              AND ($3::text IS NULL OR target_type = $3) AND ($4::text IS NULL OR target_id = $4)
              AND ($5::timestamptz IS NULL OR occurred_at >= $5)
              AND ($6::timestamptz IS NULL OR occurred_at < $6)
              AND ($7::bigint IS NULL OR id < $7)
            ORDER BY id DESC
            LIMIT $8""",
        query.actor, query.action, query.target_type, query.target_id, query.since, query.until,
        query.before_id, query.limit)
    return [dict(r) for r in rows]
