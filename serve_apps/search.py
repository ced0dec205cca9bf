"""`GET /v1/search`: one search box over the caller's tenant's vehicles and trouble codes,
typo-tolerant, with facets (db/search.py does the searching)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel

from db.search import CONNECTIONS, HEALTH_BANDS, SearchFilters, search
from serve_apps.auth import principal_of
from serve_apps.errors import ERROR_RESPONSES, ApiError
from serve_apps.input_types import Text
from serve_apps.services import Services, services

router = APIRouter(prefix="/v1/search", tags=["search"], responses=ERROR_RESPONSES)

MAX_FACET_FILTERS = 10  # with 40 characters each: a URL every proxy takes
FACET_VALUES: dict[str, tuple[str, ...] | None] = {  # None: any value (a trouble code)
    "health": HEALTH_BANDS, "connection": CONNECTIONS, "code": None}


class VehicleHit(BaseModel):
    vehicle_id: str
    name: str
    vin: str | None
    connection: str
    health: str  # good, fair or poor
    health_score: float


class TroubleCodeHit(BaseModel):
    code: str
    description: str
    vehicles: int  # the tenant's vehicles with it open


class Facets(BaseModel):
    codes: dict[str, int]  # code -> vehicles with it open, for the codes found
    health: dict[str, int]  # band -> vehicles found
    connection: dict[str, int]


class SearchResponse(BaseModel):
    query: str
    vehicles_found: int  # before facet filters and the limit
    vehicles: list[VehicleHit]
    trouble_codes: list[TroubleCodeHit]
    facets: Facets


def facet_filters(facets: list[str]) -> SearchFilters:
    """`name:value` pairs, e.g. health:poor, connection:connected, code:P0301; values of one
    name are alternatives, names narrow together."""
    chosen: dict[str, list[str]] = {name: [] for name in FACET_VALUES}
    for facet in facets:
        name, _, value = facet.partition(":")
        if name not in FACET_VALUES or not value:
            raise ApiError("INVALID_REQUEST", f"facet {facet!r}: expected one of "
                           f"{', '.join(n + ':<value>' for n in FACET_VALUES)}")
        allowed = FACET_VALUES[name]
        if allowed is not None and value not in allowed:
            raise ApiError("INVALID_REQUEST", f"facet {facet!r}: {name} is one of {', '.join(allowed)}")
        chosen[name].append(value)
    return SearchFilters(tuple(chosen["health"]), tuple(chosen["connection"]), tuple(chosen["code"]))


@router.get("", response_model=SearchResponse)
async def search_fleet(request: Request,
                       q: Annotated[Text, Query(min_length=1, max_length=100,
                                                description="vehicle id, name or VIN; trouble code or description")],
                       facet: Annotated[list[Annotated[Text, Query(max_length=40)]], Query(
                           max_length=MAX_FACET_FILTERS,
                           description="narrow the vehicles: health:good|fair|poor, "
                                       "connection:connected|connecting|disconnected|unknown, code:<code>")] = [],
                       limit: Annotated[int, Query(ge=1, le=100)] = 20,
                       svc: Services = Depends(services)) -> dict[str, Any]:
    if not any(character.isalnum() for character in q):  # no trigram to look up: it would compare every row
        raise ApiError("INVALID_REQUEST", "q needs at least one letter or digit")
    filters = facet_filters(facet)
    tenant_id = principal_of(request).tenant_id
    found = await search(svc.pool, tenant_id, q, filters, limit)
    return {"query": q, "vehicles_found": found.vehicles_found, "vehicles": found.vehicles,
            "trouble_codes": found.trouble_codes,
            "facets": {"codes": {c["code"]: c["vehicles"] for c in found.trouble_codes},
                       "health": found.health, "connection": found.connection}}
