"""The shard's group commit on a real PostgreSQL: one writer's rows the database refuses fail
that writer alone; the others in the same flush commit; readings sent again are stored once."""

import asyncio
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from actors.telemetry_writer import TelemetryWriter

pytestmark = pytest.mark.integration


def rows(vehicle_id, unit="rpm", n=3):
    now = datetime.now(timezone.utc)
    return [(vehicle_id, "t-writer", "RPM", 900.0 + i, unit, now + timedelta(milliseconds=i)) for i in range(n)]


async def stored_counts(pool, vehicle_ids) -> dict[str, int]:
    stored = await pool.fetch("SELECT vehicle_id, count(*) AS n FROM telemetry WHERE vehicle_id = ANY($1) GROUP BY 1",
                              vehicle_ids)
    return {r["vehicle_id"]: r["n"] for r in stored}


async def test_a_batch_sent_again_is_stored_once(pool):
    writer = TelemetryWriter(pool, max_delay=0.01)
    vehicle_id = f"again-{uuid.uuid4().hex[:8]}"
    batch = rows(vehicle_id)
    await writer.write(batch)
    await writer.write(batch)  # the retry of an ingest whose answer was lost
    assert await stored_counts(pool, [vehicle_id]) == {vehicle_id: 3}


async def test_a_resent_batch_in_a_flush_stores_the_others_new_rows(pool):
    writer = TelemetryWriter(pool, max_delay=0.05)
    resent, fresh = f"resent-{uuid.uuid4().hex[:8]}", f"fresh-{uuid.uuid4().hex[:8]}"
    first = rows(resent, n=2)
    await writer.write(first)
    more = [(resent, "t-writer", "RPM", 1.0, "rpm", datetime.now(timezone.utc) + timedelta(seconds=1))]
    results = await asyncio.gather(writer.write(first + more), writer.write(rows(fresh, n=4)))
    assert results == [None, None]
    assert await stored_counts(pool, [resent, fresh]) == {resent: 3, fresh: 4}


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
