"""Live streams: a vehicle's readings, alerts and connection changes over Server-Sent Events and
WebSocket, and every alert of the caller's fleet over SSE.

Each stream starts with a `state` event (the vehicle's live state) or nothing (the fleet), then
relays events as they are committed. Events reach a replica through its LiveFeed, so a slow
client drops its own oldest events (a `gap` event says how many) and never stalls a vehicle.
SSE events carry ids: a client reconnecting with `Last-Event-ID` (browsers' EventSource does)
gets the events it missed instead of a new `state`, while the actor's ring still holds them.
WebSocket messages carry the same ids in an `id` field, and `?last_event_id=` resumes likewise.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.encoders import jsonable_encoder
from fastapi.sse import EventSourceResponse, ServerSentEvent

from db.errors import DomainError
from serve_apps.auth import InvalidToken, Principal, principal_of
from serve_apps.errors import ERROR_RESPONSES, refuse_socket
from serve_apps.input_types import VehicleIdPath
from serve_apps.metrics import stream_client
from serve_apps.services import Services, services
from serve_apps.vehicles import live_vehicle

router = APIRouter(tags=["streams"], responses=ERROR_RESPONSES)

RESUME_HELP = ("the id of the last event received: resume after it (the vehicle's ring holds its last 256 "
               "events, the fleet's 1,000, until a minute after its last reader left); otherwise the stream "
               "starts afresh")
LastEventId = Annotated[str | None, Header(description=RESUME_HELP)]


async def visible_vehicle(vehicle_id: VehicleIdPath, request: Request, svc: Services = Depends(services)) -> str:
    """NOT_FOUND for another tenant's vehicle, checked before the response starts streaming."""
    await live_vehicle(svc, vehicle_id, principal_of(request).tenant_id)
    return vehicle_id


@router.get("/v1/vehicles/{vehicle_id}/stream", response_class=EventSourceResponse)
async def vehicle_stream(request: Request, vehicle_id: str = Depends(visible_vehicle),
                         svc: Services = Depends(services),
                         last_event_id: LastEventId = None) -> AsyncIterable[ServerSentEvent]:
    with stream_client("vehicle_sse"):
        async with svc.vehicle_feed.subscribe(vehicle_id, last_event_id) as events:
            if not events.resumed:
                state = await live_vehicle(svc, vehicle_id, principal_of(request).tenant_id)
                yield ServerSentEvent(event="state", data={"type": "state", "vehicle": state})
            async for event in events:
                yield ServerSentEvent(event=event.data["type"], raw_data=event.encoded, id=event.id)


@router.get("/v1/fleet/stream", response_class=EventSourceResponse)
async def fleet_stream(request: Request, svc: Services = Depends(services),
                       last_event_id: LastEventId = None) -> AsyncIterable[ServerSentEvent]:
    """Every alert raised or cleared in the caller's tenant, as published to `vehicle-alerts`."""
    with stream_client("fleet_sse"):
        async with svc.alert_feed.subscribe(principal_of(request).tenant_id, last_event_id) as events:
            yield ServerSentEvent(comment="resumed" if events.resumed else "subscribed")
            async for event in events:
                yield ServerSentEvent(event=event.data["type"], raw_data=event.encoded, id=event.id)


def websocket_principal(websocket: WebSocket, svc: Services) -> Principal:
    """Bearer header, or `access_token` in the query string (browsers cannot set WebSocket headers)."""
    scheme, _, token = websocket.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        token = websocket.query_params.get("access_token", "")
    if not token:
        raise InvalidToken("missing bearer token")
    return svc.verifier.verify(token.strip())


@router.websocket("/v1/vehicles/{vehicle_id}/ws")
async def vehicle_socket(websocket: WebSocket, vehicle_id: VehicleIdPath, svc: Services = Depends(services),
                         last_event_id: Annotated[str | None, Query(description=RESUME_HELP)] = None) -> None:
    """The same events as the SSE stream, one JSON message each, with the SSE id as `id`. An
    invalid token or another tenant's vehicle closes the handshake with 1008 and a reason."""
    try:
        who = websocket_principal(websocket, svc)
        await live_vehicle(svc, vehicle_id, who.tenant_id)
    except (InvalidToken, DomainError) as exc:  # a bad token, or NOT_FOUND for another tenant's vehicle
        await refuse_socket(websocket, str(exc))
        return
    await websocket.accept()
    with stream_client("vehicle_websocket"):
        async with svc.vehicle_feed.subscribe(vehicle_id, last_event_id) as events:
            async def send_events() -> None:  # state after subscribing, as the SSE stream: no gap
                if not events.resumed:
                    state = await live_vehicle(svc, vehicle_id, who.tenant_id)
                    await websocket.send_json(jsonable_encoder({"type": "state", "vehicle": state}))
                async for event in events:
                    await websocket.send_text(event.socket_message)

            async def until_closed() -> None:  # clients send nothing; this notices them leave
                while (await websocket.receive())["type"] != "websocket.disconnect":
                    pass

            tasks = {asyncio.ensure_future(send_events()), asyncio.ensure_future(until_closed())}
            done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in pending:
                task.cancel()
            for task in done:
                if isinstance(task.exception(), (WebSocketDisconnect, OSError)):
                    continue
                task.result()
