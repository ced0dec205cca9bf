-- State owned by the Kafka consumers: de-duplication, notifications, resource availability.

-- One row per (consumer, event) applied; written in the same transaction as the effect.
CREATE TABLE processed_events (
  consumer TEXT NOT NULL,
  event_id UUID NOT NULL,
  processed_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  PRIMARY KEY (consumer, event_id)
);

CREATE TABLE notifications (
  id BIGSERIAL PRIMARY KEY,
  event_id UUID NOT NULL,
  recipient_type VARCHAR(20) NOT NULL CHECK (recipient_type IN ('user', 'property_owner')),
  recipient_id TEXT NOT NULL,
  booking_id UUID NOT NULL,
  kind VARCHAR(50) NOT NULL,
  body JSONB NOT NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  UNIQUE (event_id, recipient_type)
);

-- A resource is unavailable for a period while a booking holds it; cancellation releases it.
CREATE TABLE resource_reservations (
  booking_id UUID PRIMARY KEY REFERENCES bookings(id),
  tenant_id TEXT NOT NULL,
  resource_id TEXT NOT NULL,
  starts_at TIMESTAMPTZ NOT NULL,
  ends_at TIMESTAMPTZ NOT NULL,
  released_at TIMESTAMPTZ NULL
);

CREATE INDEX idx_reservations_resource ON resource_reservations(resource_id, starts_at)
  WHERE released_at IS NULL;
