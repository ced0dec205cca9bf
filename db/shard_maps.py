"""The stored shard maps (db/migrations/0010_shard_maps.sql): read by the shards when they start,
written by the system controller, whose writes only ever raise the epoch."""

from __future__ import annotations

import asyncpg


async def load(conn: asyncpg.Connection | asyncpg.Pool, kind: str) -> tuple[int, tuple[int, ...]] | None:
    row = await conn.fetchrow("SELECT epoch, owners FROM shard_maps WHERE kind = $1", kind)
    return (row["epoch"], tuple(row["owners"])) if row else None


async def store(conn: asyncpg.Connection | asyncpg.Pool, kind: str, epoch: int, owners: tuple[int, ...]) -> bool:
    """Store the map unless a newer one is stored already; True when stored."""
    stored = await conn.fetchval(
        """INSERT INTO shard_maps (kind, epoch, owners) VALUES ($1, $2, $3)
           ON CONFLICT (kind) DO UPDATE SET epoch = excluded.epoch, owners = excluded.owners, updated_at = now()
           WHERE shard_maps.epoch < excluded.epoch
           RETURNING 1""", kind, epoch, list(owners))
    return stored is not None
