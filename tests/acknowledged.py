"""What the fault runs (tests/multinode, tests/soak) share on the client side: a timeline printed
as it goes, and a client that sends each request until it is answered and counts every answer
that was not a success, so a checker can hold the system to what it acknowledged."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx


class Timeline:
    def __init__(self):
        self.start = time.monotonic()
        self.events: list[tuple[float, str]] = []

    def __call__(self, what: str) -> None:
        at = round(time.monotonic() - self.start, 1)
        self.events.append((at, what))
        print(f"[{at:7.1f}s] {what}", flush=True)


# Serve's proxy answers a request whose replica died with it (its node lost) 500, with Ray's
# error text: the request may or may not have run, so only the client can retry it. fleetray's
# own answers are JSON with an "error" code, and never 500.
REPLICA_LOST = "500 from Serve's proxy: replica lost"


def failure_kind(response: httpx.Response) -> str:
    if response.status_code == 500 and not response.headers.get("content-type", "").startswith("application/json"):
        return REPLICA_LOST
    return str(response.status_code)


class AcknowledgingClient:
    """Sends a request again until it is answered as it should be; `failures` counts the other
    answers (and transport errors) by kind."""

    def __init__(self, api_url: str, token: str, retry_seconds: float = 0.2):
        self.http = httpx.AsyncClient(base_url=api_url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        self.retry_seconds = retry_seconds
        self.failures: Counter[str] = Counter()

    async def send(self, method: str, url: str, body: dict[str, Any] | None, ok: int,
                   headers: dict[str, str] | None = None) -> httpx.Response:
        while True:
            try:
                response = await self.http.request(method, url, json=body, headers=headers)
                if response.status_code == ok:
                    return response
                self.failures[failure_kind(response)] += 1
            except httpx.HTTPError as exc:
                self.failures[type(exc).__name__] += 1
            await asyncio.sleep(self.retry_seconds)

    async def create_booking(self) -> str:
        """A new booking a month ahead; its Idempotency-Key makes a retried create return the
        booking the first attempt made."""
        start = datetime.now(timezone.utc) + timedelta(days=30)
        created = await self.send("POST", "/v1/bookings", {
            "resource_id": f"car-{uuid.uuid4().hex[:8]}", "starts_at": start.isoformat(),
            "ends_at": (start + timedelta(days=1)).isoformat()}, 201, headers={"Idempotency-Key": uuid.uuid4().hex})
        return created.json()["booking_id"]

    async def aclose(self) -> None:
        await self.http.aclose()
