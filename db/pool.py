"""asyncpg connection pools, one per process, with JSONB decoded to Python objects."""

from __future__ import annotations

import json

import asyncpg


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def _skip_session_reset(conn: asyncpg.Connection) -> None:
    """Pooled connections here never change session state (no SET, LISTEN or advisory locks:
    LISTEN and the migration lock use their own connections), so asyncpg's default reset query,
    a round trip on every release, is skipped. asyncpg still rolls back an open transaction."""


async def create_pool(dsn: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    return await asyncpg.create_pool(
        dsn, min_size=min_size, max_size=max_size, init=_init_connection, command_timeout=30,
        reset=_skip_session_reset,
    )


async def connect(dsn: str) -> asyncpg.Connection:
    """A single connection with the same codecs as the pools (for LISTEN and tools)."""
    conn = await asyncpg.connect(dsn)
    await _init_connection(conn)
    return conn
