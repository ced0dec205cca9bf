"""The system application on the real stack (cluster/system_app.py): the controller scales shards,
relays and consumers while cancellations and telemetry flow, with nothing lost or applied twice,
no entity live on two shards and every vehicle's live state carried along; it creates again an
actor that was removed for good, and a topic a broker remade with too few partitions; it reports
the topology for `fleetray status`."""

import asyncio
from contextlib import asynccontextmanager
from datetime import datetime, timezone

import pytest
import ray
from aiokafka.admin import AIOKafkaAdminClient
from ray import serve

from actors.consumers import CONSUMER_EFFECTS
from actors.topology import CONSUMER_MARK, RELAY_MARK, actor, actor_names, consumer_name
from cluster.system_app import CONTROLLER, KEEP_UP_SECONDS, SYSTEM_APP, TOPIC_PARTITIONS
from db.outbox import BOOKING_EVENTS_TOPIC, BOOKING_OUTBOX, VEHICLE_ALERT_OUTBOX
from tests.helpers import (
    assert_each_consumer_applied_once, create_booking, event_ids_of, live_on_shards, restart_consumers,
    wait_until, watch_for_doubles,
)

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


@asynccontextmanager
async def cancelling_steadily(client):
    """Cancels 60 fresh bookings one after another while the block runs; the list it yields
    holds, once the block is over, those answered 200."""
    bookings = [await create_booking(client) for _ in range(60)]
    done = asyncio.Event()
    load = asyncio.ensure_future(cancel_steadily(client, bookings, done))
    cancelled: list[dict] = []
    try:
        yield cancelled
    finally:
        done.set()
        cancelled.extend(await load)


async def each_partition_held_once(group: str) -> bool:
    held = [p for name in members(group) for p in (await actor(name).stats.remote())["positions"]]
    return sorted(held) == list(range(TOPIC_PARTITIONS))


async def loop_running(name: str) -> bool:
    """Whether the actor `name` runs its loop; False while it is gone or being brought back."""
    try:
        return (await actor(name).loop_state.remote())["running"]
    except (ValueError, ray.exceptions.RayActorError):
        return False


async def group_settled(count: int):
    """Every group has `count` members which together hold each partition once."""
    for group in CONSUMER_EFFECTS:
        if len(members(group)) != count or not await each_partition_held_once(group):
            return False
    return True


async def send_readings(operator, vehicle_ids: list[str], done: asyncio.Event) -> dict[str, int]:
    """RPM readings for each vehicle in turn until done; returns how many each had answered 202."""
    sent = dict.fromkeys(vehicle_ids, 0)
    while not done.is_set():
        for vehicle_id in vehicle_ids:
            at = datetime.now(timezone.utc).isoformat()
            response = await operator.post(f"/v1/vehicles/{vehicle_id}/telemetry", json={"readings": [
                {"pid": "RPM", "value": 1000.0 + sent[vehicle_id], "unit": "revolutions_per_minute", "captured_at": at}]})
            assert response.status_code == 202, response.text
            sent[vehicle_id] += 1
        await asyncio.sleep(0.01)
    return sent


async def test_scaling_vehicle_shards_moves_vehicles_with_their_live_state(stack, make_client):
    operator = make_client("shard-ops", tenant="shard-scaling", role="operator")
    vehicle_ids = [f"hand-off-{i}" for i in range(24)]
    for vehicle_id in vehicle_ids:
        response = await operator.post("/v1/vehicles", json={"vehicle_id": vehicle_id, "name": vehicle_id})
        assert response.status_code == 201, response.text
    before = {e: shards[0] for e, shards in (await live_on_shards("vehicle")).items()}
    done = asyncio.Event()
    readings = asyncio.ensure_future(send_readings(operator, vehicle_ids, done))
    doubles = asyncio.ensure_future(watch_for_doubles("vehicle", done))
    try:
        await asyncio.sleep(1)
        await scale(stack, "vehicle-shards", 4)
        assert sorted(actor_names(lambda n: n.startswith("vehicle-shard-"))) == [f"vehicle-shard-{i}" for i in range(4)]
        await asyncio.sleep(1)
        await scale(stack, "vehicle-shards", 3)
        await asyncio.sleep(1)
    finally:
        done.set()
        sent = await readings
        seen_doubled = await doubles
        await scale(stack, "vehicle-shards", stack.settings.vehicle_shards)
    assert seen_doubled == [], "an entity was live on two shards at once"
    after = {e: shards[0] for e, shards in (await live_on_shards("vehicle")).items()}
    assert any(before.get(v) != after.get(v) for v in vehicle_ids if v in before), "vehicles moved"
    for vehicle_id in vehicle_ids:
        state = (await operator.get(f"/v1/vehicles/{vehicle_id}")).json()
        assert state["readings"]["RPM"]["stats"]["count"] == sent[vehicle_id], (
            f"{vehicle_id}: the rolling statistics count every reading, across the moves")


async def test_scaling_booking_shards_applies_every_cancellation_once(stack, make_client, pool):
    async with cancelling_steadily(make_client("booking-scaler")) as cancelled:
        await scale(stack, "booking-shards", 3)
        await scale(stack, "booking-shards", stack.settings.booking_shards)
    assert len(cancelled) >= 10
    await assert_each_consumer_applied_once(pool, await event_ids_of(pool, cancelled))
    assert sorted(actor_names(lambda n: n.startswith("booking-shard-"))) == [
        f"booking-shard-{i}" for i in range(stack.settings.booking_shards)]


async def test_scaling_relays_up_and_down_loses_and_doubles_nothing(stack, make_client, pool):
    try:
        async with cancelling_steadily(make_client("scaler")) as cancelled:
            await scale(stack, "relays", 3)
            assert booking_relays() == [f"booking-outbox-relay-{i}" for i in range(3)]
            await asyncio.sleep(1)
            await scale(stack, "relays", 1)
            assert booking_relays() == ["booking-outbox-relay-0"]
    finally:
        await scale(stack, "relays", stack.settings.outbox_relays)
    assert len(cancelled) >= 10, "cancellations ran while the relays were scaled"
    await assert_each_consumer_applied_once(pool, await event_ids_of(pool, cancelled))


async def test_scaling_consumers_splits_the_partitions_and_applies_each_event_once(stack, make_client, pool):
    try:
        async with cancelling_steadily(make_client("scaler")) as cancelled:
            await scale(stack, "consumers", 3)
            await wait_until(lambda: group_settled(3), timeout=60, interval=0.5)
            assert members("notifications") == [consumer_name("notifications", i) for i in range(3)]
            await scale(stack, "consumers", 1)
    finally:
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
    await wait_until(lambda: loop_running(name), timeout=KEEP_UP_SECONDS * 4, interval=0.5)
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
        assert status["consumer_groups"][group]["audit"]["unapplied"] >= 0
    [demo] = status["bridges"].values()
    assert set(demo["adapters"]) == {f"demo-{i}" for i in range(1, stack.settings.demo_fleet + 1)}
    assert set(status["other"]) == {"delivery-audit", "fleet-alert-feed", "maintenance-sweep"}
    assert BOOKING_OUTBOX.name in {o["table"] for o in status["outboxes"].values()}
    assert VEHICLE_ALERT_OUTBOX.name in {o["table"] for o in status["outboxes"].values()}


@pytest.mark.runs_last
async def test_a_topic_the_broker_remade_with_too_few_partitions_gets_them_all_again(stack, broker):
    """The embedded broker restarts without its data, and the consumers, restarted meanwhile,
    ask for their topic first: the broker makes it with its own default of partitions, fewer
    than the producers know. The controller gives the topic its partitions back, and each
    consumer group reads every one of them."""
    broker.stop()
    try:
        names = restart_consumers()

        async def consumers_back() -> bool:  # and asking the broker every second
            return all([await loop_running(name) for name in names])
        await wait_until(consumers_back, timeout=30)
    finally:
        broker.start()
    admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap_servers)
    await admin.start()
    try:
        async def all_partitions() -> bool:
            [described] = await admin.describe_topics([BOOKING_EVENTS_TOPIC])
            return len(described["partitions"]) == TOPIC_PARTITIONS
        await wait_until(all_partitions, timeout=6 * KEEP_UP_SECONDS)
    finally:
        await admin.close()

    async def every_group_holds_each_partition() -> bool:
        return all([await each_partition_held_once(group) for group in CONSUMER_EFFECTS])
    await wait_until(every_group_holds_each_partition, timeout=6 * KEEP_UP_SECONDS)
