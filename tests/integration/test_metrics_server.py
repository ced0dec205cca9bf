"""The scrape endpoint (cluster/metrics_server.py, served by the system controller) exports the
series the fleet dashboard and alert rules read, counted by the processes that do the work:
readings stored by the vehicle shards, vehicles live in them, clients on a live stream."""

import re

import httpx
import pytest
from httpx_sse import aconnect_sse

from tests.helpers import wait_until

pytestmark = pytest.mark.integration


def series(text: str, name: str, labels: str = "") -> float | None:
    """The value of one series in a scrape (None when absent)."""
    match = re.search(rf"^{re.escape(name)}{re.escape(labels)} ([0-9.e+-]+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else None


async def scrape(stack) -> str:
    async with httpx.AsyncClient() as client:
        return (await client.get(stack.urls()["metrics_url"])).text


async def test_the_demo_fleets_readings_and_live_vehicles_are_exported(stack):
    async def counted():
        text = await scrape(stack)
        readings = series(text, "vehicle_readings_total")
        live = series(text, "entities_active", '{kind="vehicle"}')
        return (readings, live) if readings and live else None
    readings, live = await wait_until(counted, timeout=30, interval=1)
    assert live >= stack.settings.demo_fleet
    later = await wait_until(lambda: _more_readings_than(stack, readings), timeout=30, interval=1)
    assert later > readings


async def _more_readings_than(stack, before: float):
    now = series(await scrape(stack), "vehicle_readings_total")
    return now if now and now > before else None


async def test_an_open_stream_counts_as_a_client(stack, make_client):
    viewer = make_client("metrics-viewer", tenant="demo")
    async with aconnect_sse(viewer, "GET", "/v1/vehicles/demo-1/stream") as source:
        events = source.aiter_sse()
        await anext(events)  # the state event: the stream is open
        assert series(await scrape(stack), "stream_clients", '{stream="vehicle_sse"}') >= 1
    await wait_until(lambda: _no_clients(stack), timeout=15, interval=0.5)


async def _no_clients(stack) -> bool:
    return series(await scrape(stack), "stream_clients", '{stream="vehicle_sse"}') == 0
