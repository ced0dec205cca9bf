-- Row-level security: PostgreSQL itself keeps each tenant's vehicle data apart, below the
-- API's own tenant checks. Tenant-scoped reads run as the NOLOGIN role fleetray_tenant with
-- the setting fleetray.tenant_id (db/tenancy.py); that role sees only rows of that tenant,
-- and none at all when the setting is missing.
--
-- Superusers and roles with BYPASSRLS are not restricted, even under FORCE; the app connects
-- as one of them (actors write every tenant's rows). FORCE makes a plain table owner subject
-- to the policies too, so such an owner would see nothing: give the app's role BYPASSRLS.

-- Roles are cluster-wide and several databases (tests, stacks) share one cluster: create the
-- role once, tolerating a concurrent migration of another database doing the same.
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'fleetray_tenant') THEN
    CREATE ROLE fleetray_tenant NOLOGIN;
  END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
  NULL;
END $$;

-- SET ROLE needs membership; superusers are members of every role already.
DO $$
BEGIN
  IF NOT pg_has_role(current_user, 'fleetray_tenant', 'MEMBER') THEN
    EXECUTE format('GRANT fleetray_tenant TO %I', current_user);
  END IF;
END $$;

DO $$
DECLARE
  t TEXT;
BEGIN
  FOREACH t IN ARRAY ARRAY['vehicles', 'telemetry', 'dtc_history', 'vehicle_alerts'] LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
    EXECUTE format($p$CREATE POLICY tenant_isolation ON %I TO fleetray_tenant
                      USING (tenant_id = current_setting('fleetray.tenant_id', true))$p$, t);
    -- The API only reads as a tenant; writes go through the vehicle actors.
    EXECUTE format('GRANT SELECT ON %I TO fleetray_tenant', t);
  END LOOP;
END $$;
