"""Registering the vehicles a bridge feeds, shared by the demo fleet and `fleetray bridge`:
a vehicle registered by an earlier run is reused, one of another tenant is an error (its
readings would be refused as NOT_FOUND forever)."""

from __future__ import annotations

from typing import Any

from actors.vehicle import VehicleClient
from db.errors import DomainError


class VehicleOfAnotherTenant(Exception):
    pass


async def ensure_vehicle(vehicles: VehicleClient, vehicle_id: str, tenant_id: str, name: str,
                         adapter: dict[str, Any]) -> bool:
    """Register the vehicle unless this tenant has it already; True when registered now."""
    try:
        await vehicles.register(vehicle_id, tenant_id=tenant_id, name=name, vin=None, adapter=adapter)
    except DomainError as exc:
        if exc.code == "CONFLICT":  # this tenant's already
            return False
        if exc.code == "NOT_FOUND":  # what another tenant's vehicle looks like from here
            raise VehicleOfAnotherTenant(
                f"vehicle {vehicle_id} is registered to another tenant than {tenant_id!r}") from None
        raise
    return True
