-- Model registry (ml/registry.py): immutable versions of trained artifacts, which version
-- serves each model with what canary share, and the history of those choices.

-- A version's files live under artifact_uri and never change after registration; `files`
-- holds the sha256 of each (path relative to artifact_uri) so a corrupted copy is detected.
-- status follows model_deployments: registered -> canary -> stable -> retired.
CREATE TABLE model_versions (
    name             TEXT NOT NULL CHECK (name ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    version          INTEGER NOT NULL CHECK (version > 0),
    artifact_uri     TEXT NOT NULL,
    family           TEXT NOT NULL,
    metrics          JSONB NOT NULL,
    data_fingerprint TEXT NOT NULL,
    metadata         JSONB NOT NULL,
    files            JSONB NOT NULL,
    status           TEXT NOT NULL DEFAULT 'registered'
                     CHECK (status IN ('registered', 'canary', 'stable', 'retired')),
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (name, version)
);

-- What serves each model now. A canary takes canary_traffic_pct % of requests (1-99: 100 %
-- is a promotion to stable); without a canary the stable version takes everything.
CREATE TABLE model_deployments (
    name               TEXT PRIMARY KEY,
    stable_version     INTEGER NOT NULL,
    canary_version     INTEGER NULL,
    canary_traffic_pct SMALLINT NOT NULL DEFAULT 0 CHECK (canary_traffic_pct BETWEEN 0 AND 100),
    updated_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    FOREIGN KEY (name, stable_version) REFERENCES model_versions (name, version),
    FOREIGN KEY (name, canary_version) REFERENCES model_versions (name, version),
    CHECK ((canary_version IS NULL AND canary_traffic_pct = 0)
           OR (canary_version IS NOT NULL AND canary_traffic_pct BETWEEN 1 AND 99)),
    CHECK (canary_version IS DISTINCT FROM stable_version)
);

-- Every change of model_deployments, in order; rollback replays it to find the stable
-- version before the current one. Append-only: rows are never updated or deleted.
CREATE TABLE model_deployment_history (
    id                 BIGSERIAL PRIMARY KEY,
    name               TEXT NOT NULL REFERENCES model_deployments (name),
    action             TEXT NOT NULL CHECK (action IN ('promote', 'canary', 'rollback', 'abort_canary')),
    stable_version     INTEGER NOT NULL,
    canary_version     INTEGER NULL,
    canary_traffic_pct SMALLINT NOT NULL,
    changed_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    FOREIGN KEY (name, stable_version) REFERENCES model_versions (name, version),
    FOREIGN KEY (name, canary_version) REFERENCES model_versions (name, version)
);
CREATE INDEX model_deployment_history_name ON model_deployment_history (name, id);

CREATE FUNCTION model_deployment_history_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'model_deployment_history is append-only';
END $$;
CREATE TRIGGER model_deployment_history_append_only
    BEFORE UPDATE OR DELETE ON model_deployment_history
    FOR EACH STATEMENT EXECUTE FUNCTION model_deployment_history_append_only();
