-- The trace an event was written in (W3C trace context: {"traceparent": ..., "tracestate": ...}),
-- so the relay's publish and the consumers' effects join the request's trace. NULL when
-- tracing is off. Dead letters keep it, so a replayed event still joins its trace.
ALTER TABLE booking_outbox ADD COLUMN trace_context JSONB NULL;
ALTER TABLE booking_outbox_dlq ADD COLUMN trace_context JSONB NULL;
ALTER TABLE vehicle_alert_outbox ADD COLUMN trace_context JSONB NULL;
ALTER TABLE vehicle_alert_outbox_dlq ADD COLUMN trace_context JSONB NULL;
