"""Rate limits per caller and per tenant, for each group of routes (ADR-023 sections 9.4 and 12,
OBD2 design section 13): a caller over its limit, or a tenant over its own, is answered
429 RATE_LIMITED with Retry-After, and the other callers and tenants are not held up.

The caller is the user, except on the telemetry ingest and the signed webhook, where it is the
vehicle: one misbehaving gateway cannot use up a fleet's ingest. The counting is the `limits`
library's sliding-window counter, in each API replica's memory: with N replicas a caller gets
up to N times its limit (Serve spreads requests over them).
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass

from limits import RateLimitItem, RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from pydantic import BaseModel, Field

from serve_apps.errors import ApiError
from serve_apps.metrics import RATE_LIMITED


class RateLimit(BaseModel, frozen=True):
    """`per_second` on average, and at most `burst` requests in burst / per_second seconds."""

    per_second: float = Field(gt=0)
    burst: int = Field(ge=1)

    def item(self) -> RateLimitItem:
        return RateLimitItemPerSecond(self.burst, max(1, math.ceil(self.burst / self.per_second)))


class RouteGroupLimits(BaseModel, frozen=True):
    caller: RateLimit  # per user, or per vehicle for the telemetry group
    tenant: RateLimit


ROUTE_GROUPS: dict[str, re.Pattern] = {  # the first that matches a path names its group
    "telemetry": re.compile(r"^/v1/(vehicles/[^/]+/telemetry|webhooks/)"),
    "bookings": re.compile(r"^/v1/bookings"),
    "models": re.compile(r"^/v1/models"),
    "fleet": re.compile(r"^/v1/"),
}
TELEMETRY_VEHICLE = re.compile(r"^/v1/vehicles/([^/]+)/telemetry$")

DEFAULT_RATE_LIMITS: dict[str, RouteGroupLimits] = {
    "telemetry": RouteGroupLimits(caller=RateLimit(per_second=50, burst=200),
                                  tenant=RateLimit(per_second=5000, burst=20000)),
    "bookings": RouteGroupLimits(caller=RateLimit(per_second=100, burst=400),
                                 tenant=RateLimit(per_second=2000, burst=8000)),
    "models": RouteGroupLimits(caller=RateLimit(per_second=100, burst=400),
                               tenant=RateLimit(per_second=1000, burst=4000)),
    "fleet": RouteGroupLimits(caller=RateLimit(per_second=100, burst=400),
                              tenant=RateLimit(per_second=2000, burst=8000)),
}


def route_group(path: str) -> str | None:
    return next((group for group, pattern in ROUTE_GROUPS.items() if pattern.match(path)), None)


@dataclass(frozen=True)
class Refusal:
    scope: str  # "caller" or "tenant"
    retry_after_seconds: int

    def error(self) -> ApiError:
        whose = "your" if self.scope == "caller" else "your tenant's"
        return ApiError("RATE_LIMITED", f"Over {whose} request rate; retry in {self.retry_after_seconds} s",
                        headers={"Retry-After": str(self.retry_after_seconds)})


class RateLimiter:
    def __init__(self, limits: dict[str, RouteGroupLimits]):
        self._items = {group: (group_limits.caller.item(), group_limits.tenant.item())
                       for group, group_limits in limits.items()}
        self._limiter = SlidingWindowCounterRateLimiter(MemoryStorage())

    async def check(self, group: str, tenant_id: str, caller: str) -> Refusal | None:
        """Count one request of `caller` in `tenant_id` to `group`; a Refusal when over a limit
        (a refused request still counts against the tenant only if the caller was within its own)."""
        items = self._items.get(group)
        if items is None:
            return None
        caller_item, tenant_item = items
        for scope, item, key in (("caller", caller_item, f"{tenant_id}\n{caller}"), ("tenant", tenant_item, tenant_id)):
            if not await self._limiter.hit(item, group, scope, key):
                RATE_LIMITED.inc(tags={"group": group, "scope": scope})
                stats = await self._limiter.get_window_stats(item, group, scope, key)
                return Refusal(scope, max(1, math.ceil(stats.reset_time - time.time())))
        return None
