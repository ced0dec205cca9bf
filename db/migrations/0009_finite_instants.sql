-- asyncpg reads -infinity and infinity back as naive datetimes, which no aware datetime can be
-- compared with: one such reading broke its vehicle, and its tenant's vehicle list, for good.
-- The API now refuses instants outside 1970..9999 (db/timestamps.py); this removes readings
-- stored before it did, and lets the database refuse any other writer's.
DELETE FROM telemetry WHERE NOT isfinite(captured_at);
ALTER TABLE telemetry ADD CONSTRAINT telemetry_captured_at_finite CHECK (isfinite(captured_at));
ALTER TABLE bookings ADD CONSTRAINT bookings_period_finite CHECK (isfinite(starts_at) AND isfinite(ends_at)) NOT VALID;  -- rows already there stay readable as before
