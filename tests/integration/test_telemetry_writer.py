"""The shard's group commit on a real PostgreSQL: one writer's rows the database refuses fail
that writer alone; the others in the same flush commit."""

import asyncio
import uuid
from datetime import datetime, timezone

import pytest

from actors.telemetry_writer import TelemetryWriter

pytestmark = pytest.mark.integration


def rows(vehicle_id, unit="rpm", n=3):
    now = datetime.now(timezone.utc)
    return [(vehicle_id, "t-writer", "RPM", 900.0 + i, unit, now) for i in range(n)]


async def test_a_refused_row_fails_only_its_own_writer(pool):
    writer = TelemetryWriter(pool, max_delay=0.05)
    good = [f"good-{uuid.uuid4().hex[:8]}" for _ in range(5)]
    bad = f"bad-{uuid.uuid4().hex[:8]}"
    results = await asyncio.gather(*(writer.write(rows(v)) for v in good), writer.write(rows(bad, unit="x\x00")),
                                   return_exceptions=True)
    assert results[:5] == [None] * 5
    assert isinstance(results[5], Exception)
    stored = await pool.fetch("SELECT vehicle_id, count(*) AS n FROM telemetry WHERE vehicle_id = ANY($1) GROUP BY 1",
                              good + [bad])
    assert {r["vehicle_id"]: r["n"] for r in stored} == dict.fromkeys(good, 3)
    assert (writer.rows_written, writer.parts_refused) == (15, 1)
