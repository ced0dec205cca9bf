-- Bookings with the ADR-023 cancellation columns, the transactional outbox,
-- its dead-letter table, the audit log and feature flags.

CREATE TABLE bookings (
  id UUID PRIMARY KEY,
  tenant_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  resource_id TEXT NOT NULL,
  status VARCHAR(20) NOT NULL,
  confirmation_code CHAR(8) NOT NULL,
  starts_at TIMESTAMPTZ NOT NULL,
  ends_at TIMESTAMPTZ NOT NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  cancelled_at TIMESTAMPTZ NULL,
  cancellation_reason VARCHAR(50) NULL,
  cancellation_notes TEXT NULL,
  version INTEGER NOT NULL DEFAULT 1,
  CONSTRAINT check_booking_status CHECK (status IN ('confirmed', 'cancelled', 'completed')),
  CONSTRAINT check_booking_period CHECK (ends_at > starts_at),
  CONSTRAINT check_cancellation_reason CHECK (cancellation_reason IN (
    'change_of_plans', 'double_booking', 'found_alternative', 'no_longer_needed', 'other')),
  CONSTRAINT check_cancellation_consistency CHECK (
    (status = 'cancelled' AND cancellation_reason IS NOT NULL AND cancelled_at IS NOT NULL) OR
    (status != 'cancelled' AND cancellation_reason IS NULL AND cancelled_at IS NULL)),
  CONSTRAINT check_cancellation_notes_length CHECK (char_length(cancellation_notes) <= 1000)
);

CREATE INDEX idx_bookings_cancelled_at ON bookings(cancelled_at) WHERE cancelled_at IS NOT NULL;
CREATE INDEX idx_bookings_version ON bookings(id, version);
CREATE INDEX idx_bookings_tenant_user ON bookings(tenant_id, user_id);

CREATE TABLE booking_outbox (
  id BIGSERIAL PRIMARY KEY,
  event_id UUID NOT NULL UNIQUE,
  booking_id UUID NOT NULL,
  event_type VARCHAR(100) NOT NULL,
  event_payload JSONB NOT NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  processed_at TIMESTAMPTZ NULL,
  retry_count INTEGER NOT NULL DEFAULT 0,
  last_error TEXT NULL,
  -- back-off: a failed row is not picked up again before this time
  next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX idx_outbox_unprocessed ON booking_outbox(created_at) WHERE processed_at IS NULL;
CREATE INDEX idx_outbox_processed ON booking_outbox(processed_at) WHERE processed_at IS NOT NULL;

-- Relays LISTEN on this channel so a commit wakes them without waiting for the next poll.
CREATE FUNCTION notify_booking_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('booking_outbox', '');
  RETURN NULL;
END $$;

CREATE TRIGGER booking_outbox_notify AFTER INSERT ON booking_outbox
  FOR EACH STATEMENT EXECUTE FUNCTION notify_booking_outbox();

CREATE TABLE booking_outbox_dlq (
  id BIGINT PRIMARY KEY,
  event_id UUID NOT NULL UNIQUE,
  booking_id UUID NOT NULL,
  event_type VARCHAR(100) NOT NULL,
  event_payload JSONB NOT NULL,
  created_at TIMESTAMPTZ NOT NULL,
  retry_count INTEGER NOT NULL,
  last_error TEXT NULL,
  moved_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE audit_log (
  id BIGSERIAL PRIMARY KEY,
  occurred_at TIMESTAMPTZ NOT NULL,
  action VARCHAR(50) NOT NULL,
  tenant_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  ip_address TEXT NULL,
  booking_id TEXT NULL,
  outcome VARCHAR(50) NOT NULL,
  request_id TEXT NULL
);

CREATE INDEX idx_audit_log_booking ON audit_log(booking_id);
CREATE INDEX idx_audit_log_occurred_at ON audit_log USING BRIN (occurred_at);

CREATE TABLE feature_flags (
  name TEXT PRIMARY KEY,
  percentage INTEGER NOT NULL CHECK (percentage BETWEEN 0 AND 100),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- The local stack starts fully rolled out; production lowers it with `fleetray flag`.
INSERT INTO feature_flags(name, percentage) VALUES ('enable_booking_cancellation', 100);
