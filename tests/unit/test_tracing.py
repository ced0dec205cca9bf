"""actors/tracing.py with the SDK's in-memory exporter: trace context crosses an entity message
and Kafka headers, and nothing is traced or sent where no trace was begun."""

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from actors.entity_runtime import CommandEntity, EntityHost
from actors.tracing import (MESSAGE_TRACE_KEY, carrier_of_headers, current_carrier, headers_with_context, span_in,
                            tracer, transaction_span)


@pytest.fixture(scope="module")
def exporter():
    """The process's tracer provider (set once per process) with an in-memory exporter."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return exporter


@pytest.fixture
def spans(exporter):
    exporter.clear()
    return exporter


class Echo(CommandEntity):
    async def on_echo(self, **payload):
        return {"payload": payload, "carrier": current_carrier()}


class EchoKind:
    async def activate(self, entity_id):
        return Echo()


def test_nothing_is_carried_outside_a_trace(spans):
    assert current_carrier() is None
    assert headers_with_context([("event_id", b"e")]) == [("event_id", b"e")]
    with span_in(None, "never", trace.SpanKind.CONSUMER) as span:
        assert span is None
    assert spans.get_finished_spans() == ()


def test_kafka_headers_carry_the_publishing_span_to_the_consumer(spans):
    with tracer().start_as_current_span("publish") as publish:
        headers = headers_with_context([("event_id", b"e")])
    assert headers[0] == ("event_id", b"e") and [k for k, _ in headers[1:]] == ["traceparent"]
    with span_in(carrier_of_headers(headers), "apply", trace.SpanKind.CONSUMER):
        pass
    apply = next(s for s in spans.get_finished_spans() if s.name == "apply")
    assert apply.context.trace_id == publish.get_span_context().trace_id
    assert apply.parent.span_id == publish.get_span_context().span_id


async def test_an_entity_message_runs_in_a_child_span_of_its_sender(spans):
    host = EntityHost(EchoKind(), idle_seconds=60)
    with tracer().start_as_current_span("request") as request:
        carrier = current_carrier()
    reply = await host.ask("e-1", "echo", {"word": "hi", MESSAGE_TRACE_KEY: carrier})
    assert reply["payload"] == {"word": "hi"}, "the handler does not see the carrier"
    [entity_span] = [s for s in spans.get_finished_spans() if s.name == "entity echo"]
    assert entity_span.parent.span_id == request.get_span_context().span_id
    assert reply["carrier"]["traceparent"].split("-")[2] == format(entity_span.context.span_id, "016x")


async def test_an_untraced_entity_message_makes_no_span(spans):
    reply = await EntityHost(EchoKind(), idle_seconds=60).ask("e-2", "echo", {"word": "hi"})
    assert reply["carrier"] is None and spans.get_finished_spans() == ()


def test_a_transaction_is_a_child_span_only_inside_a_recorded_span(spans):
    with transaction_span("untraced transaction") as nothing:
        assert nothing is None
    with tracer().start_as_current_span("entity cancel") as entity:
        with transaction_span("cancel booking"):
            carrier = current_carrier()
    [transaction] = [s for s in spans.get_finished_spans() if s.name == "cancel booking"]
    assert transaction.parent.span_id == entity.get_span_context().span_id
    assert carrier["traceparent"].split("-")[2] == format(transaction.context.span_id, "016x")
