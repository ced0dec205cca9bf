"""Feature flags with a percentage rollout, stored in PostgreSQL so every replica agrees."""

from __future__ import annotations

import zlib

import asyncpg

BOOKING_CANCELLATION_FLAG = "enable_booking_cancellation"


def in_rollout(flag: str, user_id: str, percentage: int) -> bool:
    """Stable bucketing: a user stays in (or out of) a rollout as its percentage grows."""
    return zlib.crc32(f"{flag}:{user_id}".encode()) % 100 < percentage


async def get_flag_percentage(conn: asyncpg.Connection | asyncpg.Pool, flag: str) -> int:
    value = await conn.fetchval("SELECT percentage FROM feature_flags WHERE name = $1", flag)
    return 0 if value is None else int(value)


async def set_flag_percentage(conn: asyncpg.Connection | asyncpg.Pool, flag: str, percentage: int) -> None:
    if not 0 <= percentage <= 100:
        raise ValueError("percentage must be between 0 and 100")
    await conn.execute(
        """INSERT INTO feature_flags (name, percentage) VALUES ($1, $2)
           ON CONFLICT (name) DO UPDATE SET percentage = $2, updated_at = now()""",
        flag, percentage,
    )
