-- Vehicles, their telemetry history and trouble-code history.

CREATE TABLE vehicles (
  id TEXT PRIMARY KEY,
  tenant_id TEXT NOT NULL,
  name TEXT NOT NULL,
  vin TEXT NULL,
  adapter JSONB NOT NULL DEFAULT '{}',
  registered_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX idx_vehicles_tenant ON vehicles(tenant_id);

-- Append-only and time-ordered: BRIN on captured_at serves fleet-wide time ranges and
-- retention at a tiny fraction of a b-tree's size; the b-tree serves one vehicle's history.
CREATE TABLE telemetry (
  vehicle_id TEXT NOT NULL,
  tenant_id TEXT NOT NULL,
  pid TEXT NOT NULL,
  value DOUBLE PRECISION NOT NULL,
  unit TEXT NULL,
  captured_at TIMESTAMPTZ NOT NULL
);

CREATE INDEX idx_telemetry_captured_at ON telemetry USING BRIN (captured_at);
CREATE INDEX idx_telemetry_vehicle_pid_time ON telemetry (vehicle_id, pid, captured_at);

CREATE TABLE dtc_history (
  vehicle_id TEXT NOT NULL,
  tenant_id TEXT NOT NULL,
  code TEXT NOT NULL,
  description TEXT NOT NULL,
  first_seen TIMESTAMPTZ NOT NULL,
  last_seen TIMESTAMPTZ NOT NULL,
  cleared_at TIMESTAMPTZ NULL,
  PRIMARY KEY (vehicle_id, code, first_seen)
);

-- At most one open occurrence of a code per vehicle.
CREATE UNIQUE INDEX idx_dtc_history_open ON dtc_history(vehicle_id, code) WHERE cleared_at IS NULL;
