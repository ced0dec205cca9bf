-- Vehicle alerts: the open/closed alert history, and the alert outbox that carries every
-- raise and clear to the Kafka topic `vehicle-alerts` (same shape as booking_outbox).

CREATE TABLE vehicle_alerts (
  vehicle_id TEXT NOT NULL,
  tenant_id TEXT NOT NULL,
  key TEXT NOT NULL,
  severity VARCHAR(20) NOT NULL CHECK (severity IN ('warning', 'critical')),
  message TEXT NOT NULL,
  value DOUBLE PRECISION NULL,
  raised_at TIMESTAMPTZ NOT NULL,
  cleared_at TIMESTAMPTZ NULL,
  PRIMARY KEY (vehicle_id, key, raised_at)
);

-- At most one open alert per key and vehicle; re-activation reloads these.
CREATE UNIQUE INDEX idx_vehicle_alerts_open ON vehicle_alerts(vehicle_id, key) WHERE cleared_at IS NULL;
CREATE INDEX idx_vehicle_alerts_tenant ON vehicle_alerts(tenant_id, raised_at);

CREATE TABLE vehicle_alert_outbox (
  id BIGSERIAL PRIMARY KEY,
  event_id UUID NOT NULL UNIQUE,
  vehicle_id TEXT NOT NULL,
  event_type VARCHAR(100) NOT NULL,
  event_payload JSONB NOT NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  processed_at TIMESTAMPTZ NULL,
  retry_count INTEGER NOT NULL DEFAULT 0,
  last_error TEXT NULL,
  next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX idx_alert_outbox_unprocessed ON vehicle_alert_outbox(created_at) WHERE processed_at IS NULL;
CREATE INDEX idx_alert_outbox_processed ON vehicle_alert_outbox(processed_at) WHERE processed_at IS NOT NULL;

CREATE FUNCTION notify_vehicle_alert_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('vehicle_alert_outbox', '');
  RETURN NULL;
END $$;

CREATE TRIGGER vehicle_alert_outbox_notify AFTER INSERT ON vehicle_alert_outbox
  FOR EACH STATEMENT EXECUTE FUNCTION notify_vehicle_alert_outbox();

CREATE TABLE vehicle_alert_outbox_dlq (
  id BIGINT PRIMARY KEY,
  event_id UUID NOT NULL UNIQUE,
  vehicle_id TEXT NOT NULL,
  event_type VARCHAR(100) NOT NULL,
  event_payload JSONB NOT NULL,
  created_at TIMESTAMPTZ NOT NULL,
  retry_count INTEGER NOT NULL,
  last_error TEXT NULL,
  moved_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
