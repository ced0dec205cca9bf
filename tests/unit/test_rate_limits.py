"""The rate limiter (serve_apps/rate_limits.py) with the `limits` library's in-memory counter:
a caller over its burst is refused with a Retry-After, another caller is not; a tenant's limit
holds over all its callers; paths map to their route groups."""

import pytest

from serve_apps.rate_limits import RateLimit, RateLimiter, RouteGroupLimits, route_group

TIGHT = {"bookings": RouteGroupLimits(caller=RateLimit(per_second=1, burst=3),
                                      tenant=RateLimit(per_second=1, burst=5))}


async def test_a_caller_over_its_burst_is_refused_with_a_retry_after():
    limiter = RateLimiter(TIGHT)
    answers = [await limiter.check("bookings", "t1", "user a") for _ in range(4)]
    assert answers[:3] == [None, None, None]
    assert answers[3].scope == "caller" and 1 <= answers[3].retry_after_seconds <= 3
    error = answers[3].error()
    assert (error.status, error.code, error.headers["Retry-After"]) == (429, "RATE_LIMITED", str(answers[3].retry_after_seconds))


async def test_another_caller_of_the_tenant_is_not_held_up_by_one_over_its_limit():
    limiter = RateLimiter(TIGHT)
    for _ in range(4):
        await limiter.check("bookings", "t1", "user a")
    assert await limiter.check("bookings", "t1", "user b") is None


async def test_a_tenants_limit_holds_over_all_its_callers_and_no_further():
    limiter = RateLimiter(TIGHT)
    answers = [await limiter.check("bookings", "t1", f"user {i}") for i in range(6)]
    assert answers[:5] == [None] * 5 and answers[5].scope == "tenant"
    assert await limiter.check("bookings", "t2", "user 0") is None


async def test_a_group_without_limits_is_not_limited():
    limiter = RateLimiter(TIGHT)
    assert all([await limiter.check("fleet", "t1", "user a") is None for _ in range(10)])


@pytest.mark.parametrize("path, group", [
    ("/v1/vehicles/van-1/telemetry", "telemetry"), ("/v1/webhooks/telematics/t1", "telemetry"),
    ("/v1/bookings/1/cancel", "bookings"), ("/v1/models/engine/predict", "models"),
    ("/v1/vehicles/van-1", "fleet"), ("/v1/fleet/stream", "fleet"), ("/healthz", None)])
def test_paths_belong_to_their_route_group(path, group):
    assert route_group(path) == group
