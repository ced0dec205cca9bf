-- Search over a tenant's vehicles and trouble codes (db/search.py): trigram indexes (pg_trgm
-- and btree_gin, contrib extensions PostgreSQL ships; trusted, so a database owner may create
-- them), each
-- vehicle's standing (connection and health, written by its entity when they change) for the
-- facets, and the catalogue of codes each tenant's vehicles have reported.

CREATE EXTENSION IF NOT EXISTS pg_trgm;

ALTER TABLE vehicles
  ADD COLUMN connection TEXT NOT NULL DEFAULT 'unknown',
  ADD COLUMN health_score REAL NOT NULL DEFAULT 100;

-- btree_gin lets one GIN index take the tenant and the text together: on the text alone the
-- planner would rather read the tenant's vehicles and compare each.
CREATE EXTENSION IF NOT EXISTS btree_gin;

CREATE INDEX idx_vehicles_search ON vehicles
  USING GIN (tenant_id, (id || ' ' || name || ' ' || coalesce(vin, '')) gin_trgm_ops);

CREATE TABLE tenant_trouble_codes (
  tenant_id TEXT NOT NULL,
  code TEXT NOT NULL,
  description TEXT NOT NULL,
  PRIMARY KEY (tenant_id, code)
);

INSERT INTO tenant_trouble_codes (tenant_id, code, description)
SELECT DISTINCT ON (tenant_id, code) tenant_id, code, description FROM dtc_history
 ORDER BY tenant_id, code, last_seen DESC
ON CONFLICT DO NOTHING;

CREATE INDEX idx_tenant_trouble_codes_search ON tenant_trouble_codes
  USING GIN (tenant_id, (code || ' ' || description) gin_trgm_ops);

-- The codes facet counts the vehicles that have a code open.
CREATE INDEX idx_dtc_history_open_by_code ON dtc_history (tenant_id, code, vehicle_id) WHERE cleared_at IS NULL;

ALTER TABLE tenant_trouble_codes ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenant_trouble_codes FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenant_trouble_codes TO fleetray_tenant
  USING (tenant_id = current_setting('fleetray.tenant_id', true));
GRANT SELECT ON tenant_trouble_codes TO fleetray_tenant;
