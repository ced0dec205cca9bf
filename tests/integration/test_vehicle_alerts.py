"""Vehicle alerts: each raise and clear commits with the data behind it, into the alert history
and the alert outbox, and reaches the Kafka topic `vehicle-alerts` exactly once, end to end from
a trouble code set in a real ELM327-emulator."""

import json
from datetime import datetime, timedelta, timezone

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from db.outbox import VEHICLE_ALERTS_TOPIC
from tests.helpers import wait_until
from tests.integration.test_vehicle_entity import registered

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 23, 12, tzinfo=timezone.utc)


async def test_alerts_commit_with_their_reading_and_survive_reactivation(vehicle_kind, pool):
    entity = await registered(vehicle_kind, tenant="fleet-a")
    vehicle_id = entity.vehicle_id
    hot = [("COOLANT_TEMP", 115.0, "degree_Celsius", T0)]
    await entity.handle("ingest", {"tenant_id": "fleet-a", "readings": hot})
    await entity.handle("ingest", {"tenant_id": "fleet-a", "readings": hot})  # still hot: no new event

    [alert] = await pool.fetch("SELECT * FROM vehicle_alerts WHERE vehicle_id = $1", vehicle_id)
    assert (alert["key"], alert["severity"], alert["cleared_at"]) == ("coolant_high", "critical", None)
    [event] = await pool.fetch("SELECT * FROM vehicle_alert_outbox WHERE vehicle_id = $1", vehicle_id)
    assert event["event_type"] == "VehicleAlertRaised"
    assert event["event_payload"]["alert_key"] == "coolant_high"
    assert event["event_payload"]["tenant_id"] == "fleet-a"

    again = await vehicle_kind.activate(vehicle_id)  # a new activation must not raise the open alert again
    assert [a["key"] for a in (await again.handle("get", {"tenant_id": "fleet-a"}))["vehicle"]["alerts"]] == [
        "coolant_high"]
    await again.handle("ingest", {"tenant_id": "fleet-a", "readings": hot})
    cool = [("COOLANT_TEMP", 90.0, "degree_Celsius", T0 + timedelta(seconds=5))]
    reply = await again.handle("ingest", {"tenant_id": "fleet-a", "readings": cool})
    assert [(a["change"], a["key"]) for a in reply["alerts"]] == [("cleared", "coolant_high")]
    events = await pool.fetch(
        "SELECT event_type FROM vehicle_alert_outbox WHERE vehicle_id = $1 ORDER BY id", vehicle_id)
    assert [e["event_type"] for e in events] == ["VehicleAlertRaised", "VehicleAlertCleared"]
    assert await pool.fetchval("SELECT cleared_at FROM vehicle_alerts WHERE vehicle_id = $1",
                               vehicle_id) == cool[0][3]


async def alert_messages(bootstrap: str, vehicle_id: str) -> list[dict]:
    """Every message on vehicle-alerts for this vehicle, read from the start of each partition."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(VEHICLE_ALERTS_TOPIC, p)
                      for p in consumer.partitions_for_topic(VEHICLE_ALERTS_TOPIC) or []]
        if not partitions:
            await consumer.topics()
            partitions = [TopicPartition(VEHICLE_ALERTS_TOPIC, p)
                          for p in consumer.partitions_for_topic(VEHICLE_ALERTS_TOPIC)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        records = []
        while batches := await consumer.getmany(timeout_ms=1000):  # until a fetch finds nothing
            records += [r for batch in batches.values() for r in batch]
    finally:
        await consumer.stop()
    return [json.loads(r.value) for r in records if r.key == vehicle_id.encode()]


async def test_trouble_code_in_the_emulator_reaches_kafka_exactly_once(stack, broker, pool):
    emulator = stack.emulators[1]  # adapter of vehicle demo-2
    emulator.set_trouble_codes(["P0301"])
    try:
        async def raised():
            events = await alert_messages(broker.bootstrap_servers, "demo-2")
            return [e for e in events if (e["alert_key"], e["event_type"]) == ("dtc:P0301", "VehicleAlertRaised")]

        first = await wait_until(raised, timeout=60, interval=1)
        # Let the bridge report the same code again: the open alert must not be published twice.
        await wait_until(lambda: pool.fetchval(
            """SELECT last_seen > first_seen FROM dtc_history
                WHERE vehicle_id = 'demo-2' AND code = 'P0301' AND cleared_at IS NULL"""), timeout=40)
    finally:
        emulator.set_trouble_codes([])

    async def cleared():
        events = await alert_messages(broker.bootstrap_servers, "demo-2")
        return events if any(e["event_type"] == "VehicleAlertCleared" and e["alert_key"] == "dtc:P0301"
                             for e in events) else None

    events = [e for e in await wait_until(cleared, timeout=60, interval=1) if e["alert_key"] == "dtc:P0301"]
    assert [e["event_type"] for e in events] == ["VehicleAlertRaised", "VehicleAlertCleared"]
    assert events[0]["event_id"] == first[0]["event_id"]
    assert events[0]["tenant_id"] == "demo" and "Misfire" in events[0]["message"]
