"""Tenant-scoped database access: row-level security (migration 0005) shows a scoped
connection only its tenant's rows, a second wall below the API's own tenant checks.

The app connects as a superuser (or a BYPASSRLS role), which RLS does not restrict, so a scope
is a transaction that switches to the role `fleetray_tenant` and names the tenant. Both
settings are transaction-local: they end with the transaction, and the pooled connection
goes back as it came (the pools skip the session reset, see db/pool.py)."""

from __future__ import annotations

from contextlib import asynccontextmanager, nullcontext
from typing import AsyncIterator

import asyncpg

TENANT_ROLE = "fleetray_tenant"
TENANT_SETTING = "fleetray.tenant_id"


@asynccontextmanager
async def tenant_scope(db: asyncpg.Pool | asyncpg.Connection, tenant_id: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection, in a transaction, that sees only `tenant_id`'s rows of the RLS tables.

    set_config('role', ..., true) is SET LOCAL ROLE; as one statement with the tenant setting
    it costs a single round trip."""
    acquired = db.acquire() if isinstance(db, asyncpg.Pool) else nullcontext(db)
    async with acquired as conn, conn.transaction():
        await conn.execute("SELECT set_config('role', $1, true), set_config($2, $3, true)",
                           TENANT_ROLE, TENANT_SETTING, tenant_id)
        yield conn
