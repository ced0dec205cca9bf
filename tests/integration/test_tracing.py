"""Tracing on the running stack: one cancellation is one connected trace, from the HTTP request
through the booking entity and its transaction, the relay's publish, to both consumers' effects,
each process exporting its own spans over OTLP (tests/otlp_receiver.py keeps them)."""

import secrets

import pytest

from actors.consumers import CONSUMER_EFFECTS
from tests.helpers import create_booking, unique, wait_until

pytestmark = pytest.mark.integration

REQUEST = "POST /v1/bookings/{booking_id}/cancel"


async def test_a_cancellation_is_one_trace_from_the_request_to_each_consumer(make_client, otlp_receiver):
    client = make_client(unique("traced"))
    booking = await create_booking(client)
    trace_id = secrets.token_hex(16)
    response = await client.post(f"/v1/bookings/{booking['booking_id']}/cancel", json={"reason": "other"},
                                 headers={"traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01"})
    assert response.status_code == 200, response.text
    applied = {f"{group} apply" for group in CONSUMER_EFFECTS}
    expected = {REQUEST, "entity cancel", "cancel booking", "booking-events publish", *applied}

    async def complete():  # each process exports its spans in its own batches
        spans = otlp_receiver.trace(trace_id)
        return spans if expected <= {s.name for s in spans} else None
    spans = await wait_until(complete, timeout=60, interval=0.5)

    by_id = {s.span_id: s for s in spans}
    services = {s.name: s.service for s in spans}
    assert services[REQUEST] == "fleetray-api"
    assert (services["entity cancel"], services["cancel booking"]) == ("fleetray-booking-shard",) * 2
    assert services["booking-events publish"] == "fleetray-relay"
    assert {services[name] for name in applied} == {"fleetray-consumer"}

    def path_to_root(span) -> list[str]:
        names = [span.name]
        while span.parent_span_id in by_id:
            span = by_id[span.parent_span_id]
            names.append(span.name)
        return names
    roots = {path_to_root(s)[-1] for s in spans}
    assert roots == {REQUEST}, "every span hangs from the request"
    for name in applied:
        [consumer_span] = [s for s in spans if s.name == name]
        assert path_to_root(consumer_span) == [name, "booking-events publish", "cancel booking", "entity cancel",
                                               REQUEST]
        assert consumer_span.attributes["messaging.message.id"] == by_id[
            consumer_span.parent_span_id].attributes["messaging.message.id"]
