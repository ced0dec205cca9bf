"""A scratch database for a benchmark: made fresh with the stack's migrations on a server,
dropped at the end."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from db.embedded import replace_database
from db.migrate import apply_migrations


@asynccontextmanager
async def scratch_database(server: str, name: str) -> AsyncIterator[str]:
    """The DSN of database `name` on `server`, replaced by an empty migrated one."""
    admin = await asyncpg.connect(server)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.execute(f"CREATE DATABASE {name}")
        dsn = replace_database(server, name)
        await apply_migrations(dsn)
        yield dsn
    finally:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.close()
