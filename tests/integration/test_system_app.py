"""The system application on the real stack (cluster/system_app.py): the controller scales relays
and consumers while cancellations flow, with none lost or applied twice; it creates again an
actor that was removed for good; it reports the topology for `fleetray status`."""

import asyncio

import pytest
import ray
from ray import serve

from actors.consumers import CONSUMER_EFFECTS
from actors.topology import CONSUMER_MARK, RELAY_MARK, actor, actor_names, consumer_name
from cluster.system_app import CONTROLLER, KEEP_UP_SECONDS, SYSTEM_APP, TOPIC_PARTITIONS
from db.outbox import BOOKING_OUTBOX, VEHICLE_ALERT_OUTBOX
from tests.helpers import assert_each_consumer_applied_once, create_booking, event_ids_of, wait_until

pytestmark = pytest.mark.integration

CANCEL = {"reason": "change_of_plans"}


def booking_relays() -> list[str]:
    return sorted(n for n in actor_names(lambda n: RELAY_MARK in n) if n.startswith("booking"))


def members(group: str) -> list[str]:
    return sorted(n for n in actor_names(lambda n: n.startswith(f"{group}{CONSUMER_MARK}")))


async def scale(stack, role: str, count: int) -> None:
    await asyncio.to_thread(stack.cluster.scale, role, count)


async def cancel_steadily(client, bookings: list[dict], done: asyncio.Event) -> list[dict]:
    """Cancel the bookings one after another until done is set; returns those answered 200."""
    cancelled = []
    for booking in bookings:
        if done.is_set():
            break
        response = await client.post(f"/v1/bookings/{booking['booking_id']}/cancel", json=CANCEL)
        assert response.status_code == 200, response.text
        cancelled.append(booking)
        await asyncio.sleep(0.02)
    return cancelled


async def group_settled(count: int):
    """Every group has `count` members which together hold each partition once."""
    for group in CONSUMER_EFFECTS:
        names = members(group)
        if len(names) != count:
            return False
        held = [p for name in names for p in (await actor(name).stats.remote())["positions"]]
        if sorted(held) != list(range(TOPIC_PARTITIONS)):
            return False
    return True


async def test_scaling_relays_up_and_down_loses_and_doubles_nothing(stack, make_client, pool):
    client = make_client("scaler")
    bookings = [await create_booking(client) for _ in range(60)]
    done = asyncio.Event()
    load = asyncio.ensure_future(cancel_steadily(client, bookings, done))
    try:
        await scale(stack, "relays", 3)
        assert booking_relays() == [f"booking-outbox-relay-{i}" for i in range(3)]
        await asyncio.sleep(1)
        await scale(stack, "relays", 1)
        assert booking_relays() == ["booking-outbox-relay-0"]
    finally:
        done.set()
        cancelled = await load
        await scale(stack, "relays", stack.settings.outbox_relays)
    assert len(cancelled) >= 10, "cancellations ran while the relays were scaled"
    await assert_each_consumer_applied_once(pool, await event_ids_of(pool, cancelled))


async def test_scaling_consumers_splits_the_partitions_and_applies_each_event_once(stack, make_client, pool):
    client = make_client("scaler")
    bookings = [await create_booking(client) for _ in range(60)]
    done = asyncio.Event()
    load = asyncio.ensure_future(cancel_steadily(client, bookings, done))
    try:
        await scale(stack, "consumers", 3)
        await wait_until(lambda: group_settled(3), timeout=60, interval=0.5)
        assert members("notifications") == [consumer_name("notifications", i) for i in range(3)]
        await scale(stack, "consumers", 1)
    finally:
        done.set()
        cancelled = await load
        await scale(stack, "consumers", stack.settings.consumers_per_group)
    await wait_until(lambda: group_settled(1), timeout=60, interval=0.5)
    assert len(cancelled) >= 10
    await assert_each_consumer_applied_once(pool, await event_ids_of(pool, cancelled))


async def test_scaling_consumers_beyond_the_partitions_is_refused(stack):
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        await scale(stack, "consumers", TOPIC_PARTITIONS + 1)
    assert len(members("notifications")) == stack.settings.consumers_per_group


async def test_an_actor_removed_for_good_is_created_again(stack):
    name = consumer_name("property-management", 0)
    ray.kill(actor(name), no_restart=True)  # Ray will not restart it: the controller must

    async def running_again():
        try:
            return (await actor(name).loop_state.remote())["running"]
        except (ValueError, ray.exceptions.RayActorError):
            return False
    await wait_until(running_again, timeout=KEEP_UP_SECONDS * 4, interval=0.5)
    await wait_until(lambda: group_settled(1), timeout=60, interval=0.5)


async def test_status_reports_the_topology(stack):
    controller = serve.get_deployment_handle(CONTROLLER, app_name=SYSTEM_APP)
    status = await controller.status.remote()
    assert sorted(status["shards"]) == sorted(
        [f"booking-shard-{i}" for i in range(stack.settings.booking_shards)]
        + [f"vehicle-shard-{i}" for i in range(stack.settings.vehicle_shards)])
    assert all(s is not None for s in status["shards"].values())
    assert set(status["relays"]) == {f"booking-outbox-relay-{i}" for i in range(stack.settings.outbox_relays)} | {
        "vehicle-alert-outbox-relay-0"}
    assert set(status["outboxes"]) == {"bookings", "alerts"}
    for group in CONSUMER_EFFECTS:
        assert isinstance(status["consumer_groups"][group]["lag"], int)
        assert list(status["consumer_groups"][group]["members"]) == [consumer_name(group, 0)]
    [demo] = status["bridges"].values()
    assert set(demo["adapters"]) == {f"demo-{i}" for i in range(1, stack.settings.demo_fleet + 1)}
    assert set(status["other"]) == {"fleet-alert-feed", "maintenance-sweep"}
    assert BOOKING_OUTBOX.name in {o["table"] for o in status["outboxes"].values()}
    assert VEHICLE_ALERT_OUTBOX.name in {o["table"] for o in status["outboxes"].values()}
