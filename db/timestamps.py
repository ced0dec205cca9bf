"""The instants fleetray stores: aware, and between EARLIEST and LATEST.

asyncpg writes datetime.min and datetime.max as -infinity and infinity and reads them back as
naive datetimes, and an offset can move an instant near either end out of Python's range; an
instant outside these bounds would be stored but come back as something no aware datetime can
be compared with, breaking every later read of the row."""

from __future__ import annotations

from datetime import datetime, timezone

EARLIEST = datetime(1970, 1, 1, tzinfo=timezone.utc)
LATEST = datetime(9999, 1, 1, tzinfo=timezone.utc)


def instant_problem(at: datetime) -> str | None:
    """Why `at` cannot be stored, or None when it can."""
    if at.tzinfo is None or at.utcoffset() is None:
        return "must have a time zone"
    if not EARLIEST <= at < LATEST:  # compared as instants: no conversion that could overflow
        return f"must be from {EARLIEST:%Y-%m-%d} to before {LATEST:%Y-%m-%d}"
    return None


def text_problem(text: str) -> str | None:
    """Why PostgreSQL would refuse `text` in a text or jsonb column, or None when it takes it."""
    if "\x00" in text:
        return "must not contain NUL characters"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate, which JSON's \\ud800 escapes can carry
        return "must be valid Unicode"
    return None
