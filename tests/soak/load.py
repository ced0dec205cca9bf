"""The soak's mixed load, through the API as users send it: bookings created and cancelled
(some cancels sent twice), telemetry with coolant spikes that raise and clear alerts,
predictions, and long-lived stream clients (vehicle SSE, fleet SSE, WebSocket) that reconnect
with the id of the last event they got. Every request is sent again until it is answered, and
what was acknowledged is kept for the checker (tests/delivery_checks.py)."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone

import httpx
from httpx_sse import aconnect_sse
from websockets.asyncio.client import connect as ws_connect

from tests.acknowledged import AcknowledgingClient

BOOKING_WORKERS = 2
BOOKING_PACE_SECONDS = 0.05
REPEAT_CANCEL_SHARE = 0.3
TELEMETRY_PACE_SECONDS = 0.25
COOLANT_SPIKE_EVERY = 40  # batches: one raises coolant_high, the next clears it
PREDICTION_PACE_SECONDS = 2.0
STREAM_RETRY_SECONDS = 0.5


@dataclass
class StreamClient:
    kind: str  # "vehicle_sse", "fleet_sse", "vehicle_ws"
    events: int = 0
    connects: int = 0
    last_event_at: float = 0.0  # time.monotonic()
    last_event_id: str | None = None


@dataclass
class Acknowledged:
    cancelled: list[str] = field(default_factory=list)       # booking ids answered 200
    repeated_cancels: int = 0                                 # a second cancel, answered 200 alike
    readings: list[tuple[str, str, datetime]] = field(default_factory=list)  # answered 202
    predictions: Counter[str] = field(default_factory=Counter)  # answers by status


class SoakLoad:
    def __init__(self, api_url: str, token: str, vehicles: list[str], stream_clients: int, seed: int):
        self.api_url = api_url
        self.token = token
        self.client = AcknowledgingClient(api_url, token)
        self.vehicles = vehicles
        self.random = random.Random(seed)
        self.acknowledged = Acknowledged()
        self.streams = [StreamClient(kind) for kind in self._stream_kinds(stream_clients)]
        self.stop = asyncio.Event()

    @staticmethod
    def _stream_kinds(count: int) -> list[str]:
        """Three fifths vehicle SSE, one fifth fleet SSE, one fifth WebSocket."""
        fleet = websocket = count // 5
        return ["vehicle_sse"] * (count - fleet - websocket) + ["fleet_sse"] * fleet + ["vehicle_ws"] * websocket

    async def run(self) -> None:
        await asyncio.gather(
            *(self._bookings() for _ in range(BOOKING_WORKERS)),
            *(self._telemetry(vehicle_id) for vehicle_id in self.vehicles),
            self._predictions(),
            *(self._stream(i, client) for i, client in enumerate(self.streams)))
        await self.client.aclose()

    async def _bookings(self) -> None:
        while not self.stop.is_set():
            booking_id = await self.client.create_booking()
            url = f"/v1/bookings/{booking_id}/cancel"
            first = await self.client.send("POST", url, {"reason": "other"}, 200)
            self.acknowledged.cancelled.append(booking_id)
            if self.random.random() < REPEAT_CANCEL_SHARE:
                again = await self.client.send("POST", url, {"reason": "change_of_plans"}, 200)
                assert again.json() == first.json(), "a repeated cancel answers the stored cancellation"
                self.acknowledged.repeated_cancels += 1
            await asyncio.sleep(BOOKING_PACE_SECONDS)

    async def _telemetry(self, vehicle_id: str) -> None:
        batch = 0
        while not self.stop.is_set():
            batch += 1
            at = datetime.now(timezone.utc)
            coolant = 115.0 if batch % COOLANT_SPIKE_EVERY == 0 else 90.0
            readings = [("RPM", 1500.0 + self.random.uniform(-300, 300), "revolutions_per_minute"),
                        ("COOLANT_TEMP", coolant, "degree_Celsius")]
            await self.client.send("POST", f"/v1/vehicles/{vehicle_id}/telemetry", {"readings": [
                {"pid": pid, "value": value, "unit": unit, "captured_at": at.isoformat()}
                for pid, value, unit in readings]}, 202)
            self.acknowledged.readings += [(vehicle_id, pid, at) for pid, _, _ in readings]
            await asyncio.sleep(TELEMETRY_PACE_SECONDS)

    async def _predictions(self) -> None:
        """Predictions are answered or refused (503 while a model server is away); counted by status."""
        while not self.stop.is_set():
            vehicle_id = self.random.choice(self.vehicles)
            try:
                response = await self.client.http.get(f"/v1/vehicles/{vehicle_id}/predictions")
                self.acknowledged.predictions[str(response.status_code)] += 1
            except httpx.HTTPError as exc:
                self.acknowledged.predictions[type(exc).__name__] += 1
            await asyncio.sleep(PREDICTION_PACE_SECONDS)

    async def _stream(self, index: int, client: StreamClient) -> None:
        """Read one stream until the load stops; whenever it ends (the replica, the shard or the
        feed went away) connect again, resuming after the last event id received."""
        vehicle_id = self.vehicles[index % len(self.vehicles)]
        stopped = asyncio.ensure_future(self.stop.wait())
        while not self.stop.is_set():
            client.connects += 1
            reader = asyncio.ensure_future(
                self._read_socket(vehicle_id, client) if client.kind == "vehicle_ws" else
                self._read_sse("/v1/fleet/stream" if client.kind == "fleet_sse"
                               else f"/v1/vehicles/{vehicle_id}/stream", client))
            await asyncio.wait({reader, stopped}, return_when=asyncio.FIRST_COMPLETED)
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
            if not self.stop.is_set():
                await asyncio.sleep(STREAM_RETRY_SECONDS)

    def _seen(self, client: StreamClient, event_id: str | None) -> None:
        client.events += 1
        client.last_event_at = time.monotonic()
        if event_id:
            client.last_event_id = event_id

    async def _read_sse(self, path: str, client: StreamClient) -> None:
        headers = {"Last-Event-ID": client.last_event_id} if client.last_event_id else {}
        async with httpx.AsyncClient(base_url=self.api_url, timeout=httpx.Timeout(10, read=None),
                                     headers={"Authorization": f"Bearer {self.token}"}) as http:
            async with aconnect_sse(http, "GET", path, headers=headers) as source:
                source.response.raise_for_status()
                async for event in source.aiter_sse():
                    self._seen(client, event.id)

    async def _read_socket(self, vehicle_id: str, client: StreamClient) -> None:
        url = f"{self.api_url.replace('http', 'ws', 1)}/v1/vehicles/{vehicle_id}/ws"
        if client.last_event_id:
            url += f"?last_event_id={client.last_event_id}"
        async with ws_connect(url, additional_headers={"Authorization": f"Bearer {self.token}"}) as socket:
            async for message in socket:
                self._seen(client, json.loads(message).get("id"))
