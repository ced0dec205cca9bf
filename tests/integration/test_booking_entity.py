"""ADR-023 section 8.1 service tests: the booking entity against a real PostgreSQL."""

import uuid
from datetime import datetime, timedelta, timezone

import pytest

from actors.booking import BookingEntity
from tests.helpers import opened_booking_kind

pytestmark = pytest.mark.integration

START = datetime(2026, 12, 1, 10, tzinfo=timezone.utc)


@pytest.fixture
async def kind(database_url):
    async with opened_booking_kind(database_url) as kind:
        yield kind


async def new_booking(kind, user="alice", tenant="t1") -> BookingEntity:
    booking_id = str(uuid.uuid4())
    entity = await kind.activate(booking_id)
    reply = await entity.handle("create", {
        "tenant_id": tenant, "user_id": user, "resource_id": "room-1", "confirmation_code": "ABCD2345",
        "starts_at": START, "ends_at": START + timedelta(days=2)})
    assert reply["booking"]["status"] == "confirmed"
    return entity


def cancel(entity, user="alice", tenant="t1", reason="change_of_plans", notes="n"):
    return entity.handle("cancel", {"tenant_id": tenant, "user_id": user, "reason": reason, "notes": notes})


async def outbox_rows(pool, booking_id):
    return await pool.fetch("SELECT * FROM booking_outbox WHERE booking_id = $1", booking_id)


async def test_cancel_booking_success_writes_row_and_event(kind, pool):
    entity = await new_booking(kind)
    reply = await cancel(entity)
    booking = reply["booking"]
    assert (booking["status"], booking["cancellation_reason"], booking["version"]) == ("cancelled", "change_of_plans", 2)
    [row] = await outbox_rows(pool, entity.booking_id)
    assert row["event_type"] == "BookingCancelled"
    assert str(row["event_id"]) == row["event_payload"]["event_id"] == reply["event_id"]
    assert row["event_payload"]["confirmation_code"] == "ABCD2345"
    stored = await pool.fetchrow("SELECT status, cancelled_at FROM bookings WHERE id = $1", entity.booking_id)
    assert stored["status"] == "cancelled" and stored["cancelled_at"] == booking["cancelled_at"]


async def test_cancel_already_cancelled_is_idempotent(kind, pool):
    entity = await new_booking(kind)
    first = await cancel(entity)
    again = await cancel(entity, reason="other", notes="different")
    assert again["already_cancelled"] and again["booking"] == first["booking"]
    # a fresh activation (another shard, after a restart) sees the same
    reloaded = await kind.activate(str(entity.booking_id))
    assert (await cancel(reloaded))["booking"]["cancelled_at"] == first["booking"]["cancelled_at"]
    assert len(await outbox_rows(pool, entity.booking_id)) == 1


async def test_cancel_invalid_status_returns_error(kind):
    entity = await new_booking(kind)
    await entity.handle("complete", {"tenant_id": "t1"})
    reply = await cancel(entity)
    assert reply == {"error": "INVALID_STATUS", "message": "Cannot cancel booking with status 'completed'"}


async def test_cancel_by_another_user_is_unauthorized_and_other_tenant_not_found(kind, pool):
    entity = await new_booking(kind)
    assert (await cancel(entity, user="mallory"))["error"] == "UNAUTHORIZED"
    assert (await cancel(entity, tenant="t2"))["error"] == "NOT_FOUND"
    missing = await kind.activate(str(uuid.uuid4()))
    assert (await cancel(missing))["error"] == "NOT_FOUND"
    assert await outbox_rows(pool, entity.booking_id) == []


async def test_concurrent_modification_returns_conflict(kind, pool):
    entity = await new_booking(kind)
    # another writer (a replica outside this actor) moves the version on
    await pool.execute("UPDATE bookings SET version = version + 1 WHERE id = $1", entity.booking_id)
    reply = await cancel(entity)
    assert reply["error"] == "CONFLICT"
    assert await outbox_rows(pool, entity.booking_id) == []
    # the entity reloaded the row, so a retry succeeds
    assert (await cancel(entity))["booking"]["status"] == "cancelled"


async def test_outbox_write_failure_rolls_back_the_cancellation(kind, pool):
    entity = await new_booking(kind)
    await pool.execute(f"""
        CREATE FUNCTION fail_outbox_{entity.booking_id.hex}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN IF NEW.booking_id = '{entity.booking_id}' THEN RAISE EXCEPTION 'outbox down'; END IF;
              RETURN NEW; END $$;
        CREATE TRIGGER fail_outbox_{entity.booking_id.hex} BEFORE INSERT ON booking_outbox
          FOR EACH ROW EXECUTE FUNCTION fail_outbox_{entity.booking_id.hex}();""")
    try:
        with pytest.raises(Exception, match="outbox down"):
            await cancel(entity)
    finally:
        await pool.execute(f"DROP TRIGGER fail_outbox_{entity.booking_id.hex} ON booking_outbox")
    row = await pool.fetchrow("SELECT status, version, cancelled_at FROM bookings WHERE id = $1", entity.booking_id)
    assert (row["status"], row["version"], row["cancelled_at"]) == ("confirmed", 1, None)
    assert await outbox_rows(pool, entity.booking_id) == []


async def test_schema_refuses_inconsistent_cancellations(pool):
    booking_id = uuid.uuid4()
    with pytest.raises(Exception, match="check_cancellation_consistency"):
        await pool.execute(
            """INSERT INTO bookings (id, tenant_id, user_id, resource_id, status, confirmation_code,
                                     starts_at, ends_at) VALUES ($1, 't', 'u', 'r', 'cancelled', 'ABCDEFGH', $2, $3)""",
            booking_id, START, START + timedelta(days=1))
