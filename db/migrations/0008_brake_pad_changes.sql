-- Brake pad changes an operator records (POST /v1/vehicles/{id}/brake-pad-changes): the brakes
-- model needs the distance driven since the last one, which OBD-II does not report. The vehicle
-- actor integrates its SPEED telemetry from the latest change on.
CREATE TABLE brake_pad_changes (
    vehicle_id  TEXT NOT NULL REFERENCES vehicles(id),
    tenant_id   TEXT NOT NULL,
    changed_at  TIMESTAMPTZ NOT NULL,
    recorded_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (vehicle_id, changed_at)
);

ALTER TABLE brake_pad_changes ENABLE ROW LEVEL SECURITY;
ALTER TABLE brake_pad_changes FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON brake_pad_changes TO fleetray_tenant
    USING (tenant_id = current_setting('fleetray.tenant_id', true));
GRANT SELECT ON brake_pad_changes TO fleetray_tenant;
