-- Search (db/search.py) matches a vehicle's name by word similarity, typos tolerated, and its id
-- and VIN by fragment (ILIKE), which a trigram index also serves and which costs a fraction to
-- check: similarity over id, name and VIN together cost about 5 us a candidate row, and a
-- two-word name query rechecked some 1,800 of a 10,000-vehicle fleet.

DROP INDEX idx_vehicles_search;

CREATE INDEX idx_vehicles_name_search ON vehicles USING GIN (tenant_id, name gin_trgm_ops);

CREATE INDEX idx_vehicles_fragment_search ON vehicles
  USING GIN (tenant_id, (id || ' ' || coalesce(vin, '')) gin_trgm_ops);
