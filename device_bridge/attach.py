"""Attaching real adapters to a running stack (`fleetray bridge`): register their vehicles and
run them in named, detached bridge actors, so they keep reading after the command returns.

The actors of one adapters file are named device-bridge-<file stem>-<n>; attaching the file
again replaces them (an edited file takes effect), detaching removes them."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import ray

from actors.topology import BRIDGE_PREFIX, RAY_NAMESPACE, actor, actor_names, vehicle_router
from actors.vehicle import VehicleClient
from device_bridge.bridge import DeviceBridgeActor
from device_bridge.config import BridgeConfig
from device_bridge.registration import ensure_vehicle

NAME_RELEASE_SECONDS = 30.0  # Ray frees a killed detached actor's name only once it is dead
STOP_SECONDS = 10.0  # for a bridge to mark its vehicles disconnected before it is killed


@dataclass
class AttachedBridge:
    name: str
    tenant_id: str
    vehicle_ids: list[str]
    actor: ray.actor.ActorHandle


def bridge_prefix(stem: str) -> str:
    return f"{BRIDGE_PREFIX}{stem}-"


async def attach(config: BridgeConfig, stem: str) -> tuple[list[AttachedBridge], list[str]]:
    """Register the vehicles not registered yet and start the bridge actors of `config`.
    Returns the bridges and the vehicle ids registered now. Needs ray.init() on the stack's
    cluster."""
    vehicles = VehicleClient(vehicle_router())
    fresh = await asyncio.gather(*(
        ensure_vehicle(vehicles, a.vehicle_id, a.tenant_id, a.name or a.vehicle_id,
                       a.model_dump(include={"port", "baudrate", "protocol"}, exclude_none=True))
        for a in config.adapters))
    await detach(stem)
    bridges = [
        AttachedBridge(f"{bridge_prefix(stem)}{n}", tenant, [a.vehicle_id for a in adapters],
                       DeviceBridgeActor.options(
                           name=f"{bridge_prefix(stem)}{n}", namespace=RAY_NAMESPACE, lifetime="detached",
                       ).remote(tenant, [a.adapter_config() for a in adapters]))
        for n, (tenant, adapters) in enumerate(config.groups(), 1)]
    await started(bridges)
    return bridges, [a.vehicle_id for a, new in zip(config.adapters, fresh) if new]


async def started(bridges: list[AttachedBridge]) -> None:
    """Wait until each bridge is constructed: its loop starts by itself (start() is a no-op then)."""
    await asyncio.gather(*(b.actor.start.remote() for b in bridges))


async def detach(stem: str) -> list[str]:
    """Stop and kill every bridge actor of this adapters file (its vehicles then show
    disconnected); returns their names once they are gone."""
    prefix = bridge_prefix(stem)
    names = actor_names(lambda name: name.startswith(prefix))
    actors = [actor(name) for name in names]
    try:
        await asyncio.wait_for(asyncio.gather(*(a.stop.remote() for a in actors), return_exceptions=True),
                               STOP_SECONDS)
    except asyncio.TimeoutError:
        pass  # a hung bridge is killed all the same
    for handle in actors:
        ray.kill(handle, no_restart=True)
    deadline = time.monotonic() + NAME_RELEASE_SECONDS
    while actor_names(lambda name: name in names):
        if time.monotonic() > deadline:
            raise TimeoutError(f"bridge actors {names} still exist {NAME_RELEASE_SECONDS}s after being killed")
        await asyncio.sleep(0.2)
    return names


async def bridge_stats(bridges: list[AttachedBridge]) -> list[dict[str, Any] | None]:
    """Each bridge's stats (DeviceBridgeActor.stats), None for one that does not answer (e.g.
    while Ray restarts it)."""
    replies = await asyncio.gather(*(b.actor.stats.remote() for b in bridges), return_exceptions=True)
    return [None if isinstance(r, BaseException) else r for r in replies]
