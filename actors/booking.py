"""The booking entity: one logical actor per booking, hosted by booking shards.

It serialises every command for its booking, answers reads from live state and keeps the
ADR-023 rules: only the owner cancels, only confirmed bookings are cancelled, a repeated
cancel returns the stored cancellation and writes nothing. The UPDATE's version check stays
the guard against writers outside this actor (another replica, a restarted shard).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import asyncpg

from actors.entity_runtime import ShardRouter, TenantEntity, error
from actors.grouped_calls import GroupedCalls
from actors.tracing import current_carrier, start_tracing, transaction_span
from db import bookings as repo
from db.errors import DATABASE_UNAVAILABLE, unwrap
from db.events import BookingCancelled
from db.pool import create_pool

Reply = dict[str, Any]


class BookingEntity(TenantEntity):
    open_commands = frozenset({"create"})
    not_found = "Booking not found"

    def __init__(self, booking_id: uuid.UUID, state: dict[str, Any] | None, kind: BookingKind):
        self.booking_id = booking_id
        self.state = state
        self.kind = kind  # its shard's pool and group commit

    def owner(self) -> str | None:
        return None if self.state is None else self.state["tenant_id"]

    async def on_create(self, tenant_id: str, user_id: str, resource_id: str,
                        confirmation_code: str, starts_at: datetime, ends_at: datetime) -> Reply:
        if self.state is not None:
            # A retried create (same id) returns what was created; anything else is a clash.
            same = (self.state["tenant_id"], self.state["user_id"], self.state["resource_id"]) == (
                tenant_id, user_id, resource_id)
            return {"booking": self.state} if same else error("CONFLICT", "Booking id already exists")
        self.state = await self.kind.creates(repo.NewBooking(
            self.booking_id, tenant_id, user_id, resource_id, confirmation_code, starts_at, ends_at))
        return {"booking": self.state}

    async def on_get(self, tenant_id: str, user_id: str, operator: bool) -> Reply:
        """An operator reads any booking of the tenant, anyone else only their own."""
        if not operator and self.state["user_id"] != user_id:
            return error("UNAUTHORIZED", "You do not own this booking")
        return {"booking": self.state}

    async def on_cancel(self, tenant_id: str, user_id: str, reason: str, notes: str | None) -> Reply:
        state = self.state
        if state["user_id"] != user_id:
            return error("UNAUTHORIZED", "You do not own this booking")
        if state["status"] == "cancelled":
            return {"booking": state, "already_cancelled": True}
        if state["status"] != "confirmed":
            return error("INVALID_STATUS", f"Cannot cancel booking with status '{state['status']}'")

        now = datetime.now(timezone.utc)
        event = BookingCancelled(
            booking_id=self.booking_id, tenant_id=tenant_id, user_id=user_id,
            resource_id=state["resource_id"], confirmation_code=state["confirmation_code"],
            cancelled_at=now, reason=reason, notes=notes, occurred_at=now,
        ).model_dump(mode="json")
        with transaction_span("cancel booking"):
            cancelled = await self.kind.cancellations(repo.CancellationRow(
                self.booking_id, state["version"], now, reason, notes, event, current_carrier()))
        if cancelled is None:
            self.state = await repo.fetch_booking(self.kind.pool, self.booking_id)
            return error("CONFLICT", "Booking was modified by another request. Please retry.")
        self.state = cancelled
        return {"booking": self.state, "event_id": event["event_id"]}

    async def on_complete(self, tenant_id: str) -> Reply:
        if self.state["status"] == "completed":
            return {"booking": self.state}
        if self.state["status"] != "confirmed":
            return error("INVALID_STATUS", f"Cannot complete booking with status '{self.state['status']}'")
        async with self.kind.pool.acquire() as conn:
            try:
                self.state = await repo.complete_booking(
                    conn, booking_id=self.booking_id, expected_version=self.state["version"])
            except repo.VersionConflict:
                self.state = await repo.fetch_booking(conn, self.booking_id)
                return error("CONFLICT", "Booking was modified by another request. Please retry.")
        return {"booking": self.state}


class BookingKind:
    """Entity kind for booking shards: one connection pool per shard process, and group commit
    (actors/grouped_calls.py): the activations, the creates and the cancellations of the many
    bookings a shard handles at once each go to PostgreSQL as one statement, every cancelled row
    still version-checked."""

    pool: asyncpg.Pool
    loads: GroupedCalls[uuid.UUID, dict[str, Any] | None]
    creates: GroupedCalls[repo.NewBooking, dict[str, Any]]
    cancellations: GroupedCalls[repo.CancellationRow, dict[str, Any] | None]

    async def open(self, config: dict[str, Any]) -> None:
        start_tracing(config.get("otlp_endpoint"), "booking-shard")
        self.pool = await create_pool(config["database_url"], min_size=1, max_size=8)
        self.loads = GroupedCalls(self._load_group, max_in_flight=2, fail_together=DATABASE_UNAVAILABLE)
        self.creates = GroupedCalls(self._create_group, max_in_flight=2, fail_together=DATABASE_UNAVAILABLE)
        self.cancellations = GroupedCalls(self._cancel_group, max_in_flight=2, fail_together=DATABASE_UNAVAILABLE)

    async def _load_group(self, booking_ids: list[uuid.UUID]) -> list[dict[str, Any] | None]:
        found = await repo.fetch_bookings(self.pool, booking_ids)
        return [found.get(booking_id) for booking_id in booking_ids]

    async def _create_group(self, bookings: list[repo.NewBooking]) -> list[dict[str, Any]]:
        return await repo.insert_bookings(self.pool, bookings)

    async def _cancel_group(self, rows: list[repo.CancellationRow]) -> list[dict[str, Any] | None]:
        async with self.pool.acquire() as conn:
            cancelled = await repo.cancel_bookings(conn, rows)
        return [cancelled.get(row.booking_id) for row in rows]

    async def activate(self, entity_id: str) -> BookingEntity:
        booking_id = uuid.UUID(entity_id)
        return BookingEntity(booking_id, await self.loads(booking_id), self)

    async def close(self) -> None:
        await self.pool.close()


BOOKING_KIND = ("booking", "actors.booking:BookingKind")


@dataclass(frozen=True)
class Cancellation:
    booking: dict[str, Any]
    already_cancelled: bool  # a repeated cancel: nothing was written, no event published
    event_id: str | None     # the BookingCancelled event this cancel stored


class BookingClient:
    """Booking entities addressed by id. Every call names the caller's tenant; a refusal raises
    DomainError (NOT_FOUND for another tenant's booking, UNAUTHORIZED, INVALID_STATUS, CONFLICT)."""

    def __init__(self, router: ShardRouter):
        self.router = router

    async def _ask(self, booking_id: uuid.UUID | str, command: str, **payload: Any) -> Reply:
        return await self.router.ask(str(booking_id), command, payload)

    async def create(self, booking_id: uuid.UUID | str, *, tenant_id: str, user_id: str, resource_id: str,
                     confirmation_code: str, starts_at: datetime, ends_at: datetime) -> dict[str, Any]:
        """The booking created, or the one a retry with the same id created before."""
        return unwrap(await self._ask(booking_id, "create", tenant_id=tenant_id, user_id=user_id,
                                      resource_id=resource_id, confirmation_code=confirmation_code,
                                      starts_at=starts_at, ends_at=ends_at), "booking")

    async def get(self, booking_id: uuid.UUID | str, *, tenant_id: str, user_id: str, operator: bool) -> dict[str, Any]:
        return unwrap(await self._ask(booking_id, "get", tenant_id=tenant_id, user_id=user_id, operator=operator),
                      "booking")

    async def cancel(self, booking_id: uuid.UUID | str, *, tenant_id: str, user_id: str, reason: str,
                     notes: str | None) -> Cancellation:
        reply = await self._ask(booking_id, "cancel", tenant_id=tenant_id, user_id=user_id, reason=reason, notes=notes)
        return Cancellation(unwrap(reply, "booking"), reply.get("already_cancelled", False), reply.get("event_id"))

    async def complete(self, booking_id: uuid.UUID | str, *, tenant_id: str) -> dict[str, Any]:
        return unwrap(await self._ask(booking_id, "complete", tenant_id=tenant_id), "booking")
