-- The shard map of each entity kind (actors/shard_map.py): slot -> shard, and its epoch. The
-- system controller writes it before every hand-off step; a shard reads it when it starts.
CREATE TABLE shard_maps (
  kind TEXT PRIMARY KEY,
  epoch BIGINT NOT NULL CHECK (epoch > 0),
  owners SMALLINT[] NOT NULL,
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
