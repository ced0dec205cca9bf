"""Group commit in the booking shards (actors/booking.py BookingKind) on a real PostgreSQL: the
activations, creates and cancellations of a shard's concurrent messages each share one
statement, each create stores its reservation, each cancellation keeps its version check and its
own outbox event, and a row the database refuses fails only its own booking."""

import asyncio
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from db.bookings import CancellationRow, NewBooking
from db.events import BookingCancelled
from tests.helpers import opened_booking_kind

pytestmark = pytest.mark.integration


async def confirmed_bookings(pool, count: int) -> list[uuid.UUID]:
    ids = [uuid.uuid4() for _ in range(count)]
    starts = datetime.now(timezone.utc) + timedelta(days=1)
    await pool.executemany(
        """INSERT INTO bookings (id, tenant_id, user_id, resource_id, status, confirmation_code, starts_at, ends_at)
           VALUES ($1, 't1', 'alice', 'room-1', 'confirmed', 'ABCDEFGH', $2, $3)""",
        [(i, starts, starts + timedelta(days=1)) for i in ids])
    return ids


@pytest.fixture
async def kind(private_database_url):
    async with opened_booking_kind(private_database_url) as kind:
        yield kind


def cancellation(booking_id: uuid.UUID, version: int = 1, event_id: uuid.UUID | None = None) -> CancellationRow:
    now = datetime.now(timezone.utc)
    event = BookingCancelled(booking_id=booking_id, tenant_id="t1", user_id="alice", resource_id="room-1",
                             confirmation_code="ABCDEFGH", cancelled_at=now, reason="other", occurred_at=now,
                             **({"event_id": event_id} if event_id else {})).model_dump(mode="json")
    return CancellationRow(booking_id, version, now, "other", None, event)


async def events_of(pool, ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    return dict(await pool.fetch(
        "SELECT booking_id, count(*) FROM booking_outbox WHERE booking_id = ANY($1) GROUP BY 1", ids))


async def test_concurrent_activations_load_as_one_group(private_pool, kind):
    ids = await confirmed_bookings(private_pool, 20)
    entities = await asyncio.gather(*(kind.activate(str(i)) for i in [*ids, uuid.uuid4()]))
    assert [e.state["id"] for e in entities[:-1]] == ids and entities[-1].state is None
    assert kind.loads.groups_run == 1


def new_booking(booking_id: uuid.UUID) -> NewBooking:
    starts = datetime.now(timezone.utc) + timedelta(days=1)
    return NewBooking(booking_id, "t1", "bob", "room-2", "CODE1234", starts, starts + timedelta(days=1))


async def test_concurrent_creates_commit_as_one_group_each_with_its_reservation(private_pool, kind):
    ids = [uuid.uuid4() for _ in range(20)]
    rows = await asyncio.gather(*(kind.creates(new_booking(i)) for i in ids))
    assert [(row["id"], row["status"], row["version"]) for row in rows] == [(i, "confirmed", 1) for i in ids]
    assert kind.creates.groups_run == 1
    assert await private_pool.fetchval(
        "SELECT count(*) FROM resource_reservations WHERE booking_id = ANY($1)", ids) == len(ids)


async def test_a_create_of_an_existing_id_fails_alone(private_pool, kind):
    [taken] = await confirmed_bookings(private_pool, 1)
    fresh = uuid.uuid4()
    results = await asyncio.gather(kind.creates(new_booking(taken)), kind.creates(new_booking(fresh)),
                                   return_exceptions=True)
    assert "bookings_pkey" in str(results[0]) and results[1]["id"] == fresh


async def test_concurrent_cancellations_commit_as_one_group_each_with_its_event(private_pool, kind):
    ids = await confirmed_bookings(private_pool, 20)
    rows = await asyncio.gather(*(kind.cancellations(cancellation(i)) for i in ids))
    assert [(row["id"], row["status"], row["version"]) for row in rows] == [(i, "cancelled", 2) for i in ids]
    assert kind.cancellations.groups_run == 1
    assert await events_of(private_pool, ids) == {i: 1 for i in ids}


async def test_a_stale_version_writes_nothing_for_its_booking_only(private_pool, kind):
    stale, fresh = await confirmed_bookings(private_pool, 2)
    results = await asyncio.gather(kind.cancellations(cancellation(stale, version=7)),
                                   kind.cancellations(cancellation(fresh)))
    assert results[0] is None and results[1]["status"] == "cancelled"
    assert await private_pool.fetchval("SELECT status FROM bookings WHERE id = $1", stale) == "confirmed"
    assert await events_of(private_pool, [stale, fresh]) == {fresh: 1}


async def test_a_row_the_database_refuses_fails_only_its_own_booking(private_pool, kind):
    taken_event_id = uuid.uuid4()
    first, clashing, other = await confirmed_bookings(private_pool, 3)
    await kind.cancellations(cancellation(first, event_id=taken_event_id))
    results = await asyncio.gather(kind.cancellations(cancellation(clashing, event_id=taken_event_id)),
                                   kind.cancellations(cancellation(other)), return_exceptions=True)
    assert "event_id" in str(results[0]) and results[1]["status"] == "cancelled"
    assert await private_pool.fetchval("SELECT status FROM bookings WHERE id = $1", clashing) == "confirmed"
    assert await events_of(private_pool, [clashing, other]) == {other: 1}
