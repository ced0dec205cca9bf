"""fleetray's metrics reach the metrics agent of Ray's node under the names the dashboard and
alert rules read (after cluster/prometheus/prometheus.yml's renaming), counted by the processes
that do the work: readings stored by the vehicle shards, vehicles live in them, clients on a
live stream, the outbox gauges the system controller reads from PostgreSQL."""

import pytest
from httpx_sse import aconnect_sse

from tests.helpers import create_booking, metric, wait_until

pytestmark = pytest.mark.integration


async def test_the_demo_fleets_readings_and_live_vehicles_are_exported(stack):
    url = stack.urls()["metrics_url"]

    async def counted():
        readings = await metric(url, "vehicle_readings_total")
        live = await metric(url, "entities_active", kind="vehicle")
        return (readings, live) if readings and live else None
    readings, live = await wait_until(counted, timeout=30, interval=1)
    assert live >= stack.settings.demo_fleet

    async def more_readings():
        now = await metric(url, "vehicle_readings_total")
        return now if now and now > readings else None
    assert await wait_until(more_readings, timeout=30, interval=1) > readings


async def test_an_open_stream_counts_as_a_client(stack, make_client):
    url = stack.urls()["metrics_url"]
    viewer = make_client("metrics-viewer", tenant="demo")

    async def clients():
        return await metric(url, "stream_clients", stream="vehicle_sse")
    async with aconnect_sse(viewer, "GET", "/v1/vehicles/demo-1/stream") as source:
        events = source.aiter_sse()
        await anext(events)  # the state event: the stream is open
        await wait_until(lambda: _true_of(clients, lambda n: n is not None and n >= 1), timeout=15, interval=0.5)
    await wait_until(lambda: _true_of(clients, lambda n: n == 0), timeout=15, interval=0.5)


async def test_a_cancellation_is_counted_timed_and_published(stack, make_client):
    url = stack.urls()["metrics_url"]
    series = (("booking_cancellation_requests_total", {"status": "success"}),
              ("booking_cancellation_duration_seconds_count", {}),
              ("booking_outbox_events_published_total", {"status": "success"}))

    async def values():
        return [await metric(url, name, **labels) or 0.0 for name, labels in series]
    before = await values()
    client = make_client("metrics-canceller")
    booking = await create_booking(client)
    response = await client.post(f"/v1/bookings/{booking['booking_id']}/cancel", json={"reason": "change_of_plans"})
    assert response.status_code == 200, response.text
    await wait_until(lambda: _true_of(values, lambda now: all(n >= b + 1 for n, b in zip(now, before))),
                     timeout=30, interval=1)


@pytest.mark.parametrize("outbox", ["booking_outbox", "vehicle_alert_outbox"])
async def test_the_outbox_gauges_are_exported(stack, outbox):
    url = stack.urls()["metrics_url"]
    for suffix in ("size", "processing_lag_seconds", "dlq_size"):
        name = f"{outbox}_{suffix}"
        await wait_until(lambda: _true_of(lambda: metric(url, name), lambda v: v is not None and v >= 0),
                         timeout=30, interval=1)


async def _true_of(read, condition) -> bool:
    return condition(await read())
