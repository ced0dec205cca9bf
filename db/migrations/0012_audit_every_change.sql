-- The audit log records every state change, not only cancellations: what was changed is a
-- target (its kind and id). booking_id stays, ADR-023's column, set for booking targets.
-- Changes that concern every tenant (feature flags, model versions) are logged under the
-- tenant '*'.
ALTER TABLE audit_log ADD COLUMN target_type TEXT NULL, ADD COLUMN target_id TEXT NULL;
UPDATE audit_log SET target_type = 'booking', target_id = booking_id WHERE booking_id IS NOT NULL;

-- GET /v1/audit reads one tenant's records, the last written first.
CREATE INDEX idx_audit_log_tenant ON audit_log (tenant_id, id DESC);

-- Read through row-level security like the vehicle tables (db/tenancy.py): a tenant sees its
-- own records and those of changes made to every tenant.
ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_log FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON audit_log TO fleetray_tenant
  USING (tenant_id IN (current_setting('fleetray.tenant_id', true), '*'));
GRANT SELECT ON audit_log TO fleetray_tenant;
