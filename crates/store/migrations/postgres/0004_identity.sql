-- Who signed in with what: users, user agents (dynamically registered
-- clients), sessions and delegated grants. The authorization server writes
-- these; the management API reads, revokes and deletes them. Keep in step
-- with the other dialect.

CREATE TABLE users (
    id                TEXT PRIMARY KEY,
    zone_id           TEXT NOT NULL REFERENCES zones (id) ON DELETE CASCADE,
    identifier        TEXT NOT NULL,
    email             TEXT NOT NULL,
    email_verified    BOOLEAN NOT NULL,
    external          BOOLEAN NOT NULL,
    status            TEXT NOT NULL CHECK (status IN ('active', 'disabled')),
    issuer            TEXT,
    subject           TEXT,
    provider_id       TEXT,
    -- 0 until the first sign-in (sortable in both dialects).
    authenticated_at  BIGINT NOT NULL,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    CONSTRAINT users_zone_id_key UNIQUE (zone_id, id),
    CONSTRAINT users_zone_identifier_key UNIQUE (zone_id, identifier)
);
CREATE INDEX users_zone_position_idx ON users (zone_id, created_at, id);
CREATE INDEX users_zone_issuer_subject_idx ON users (zone_id, issuer, subject);

CREATE TABLE user_agents (
    id          TEXT PRIMARY KEY,
    zone_id     TEXT NOT NULL REFERENCES zones (id) ON DELETE CASCADE,
    -- The OAuth client_id: ua:{sha256 of the registration metadata}.
    identifier  TEXT NOT NULL,
    name        TEXT NOT NULL,
    slug        TEXT NOT NULL,
    metadata    TEXT,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    CONSTRAINT user_agents_zone_id_key UNIQUE (zone_id, id),
    CONSTRAINT user_agents_zone_identifier_key UNIQUE (zone_id, identifier)
);
CREATE INDEX user_agents_zone_position_idx ON user_agents (zone_id, created_at, id);

CREATE TABLE sessions (
    id                TEXT PRIMARY KEY,
    zone_id           TEXT NOT NULL REFERENCES zones (id) ON DELETE CASCADE,
    session_type      TEXT NOT NULL CHECK (session_type IN ('user', 'application')),
    parent_id         TEXT REFERENCES sessions (id) ON DELETE CASCADE,
    user_id           TEXT REFERENCES users (id) ON DELETE CASCADE,
    application_id    TEXT REFERENCES applications (id) ON DELETE CASCADE,
    user_agent_id     TEXT REFERENCES user_agents (id) ON DELETE SET NULL,
    provider_id       TEXT,
    issuer            TEXT,
    subject           TEXT,
    status            TEXT NOT NULL CHECK (status IN ('active', 'revoked')),
    name              TEXT,
    session_data      TEXT,
    authenticated_at  BIGINT,
    expires_at        BIGINT NOT NULL,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    CHECK ((session_type = 'user') = (user_id IS NOT NULL)),
    CHECK (session_type = 'user' OR (application_id IS NOT NULL AND provider_id IS NOT NULL
        AND issuer IS NOT NULL AND subject IS NOT NULL))
);
CREATE INDEX sessions_zone_position_idx ON sessions (zone_id, created_at, id);
CREATE INDEX sessions_parent_idx ON sessions (parent_id);
CREATE INDEX sessions_user_idx ON sessions (user_id);

CREATE TABLE delegated_grants (
    id             TEXT PRIMARY KEY,
    zone_id        TEXT NOT NULL REFERENCES zones (id) ON DELETE CASCADE,
    user_id        TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- No foreign key: deleting a resource revokes its grants, keeping the record.
    resource_id    TEXT NOT NULL,
    provider_id    TEXT NOT NULL,
    scopes         TEXT NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('active', 'revoked')),
    refresh_token_set BOOLEAN NOT NULL,
    expires_at     BIGINT NOT NULL,
    refreshed_at   BIGINT,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);
CREATE INDEX delegated_grants_zone_position_idx ON delegated_grants (zone_id, created_at, id);
CREATE INDEX delegated_grants_resource_idx ON delegated_grants (zone_id, resource_id);
CREATE INDEX delegated_grants_user_idx ON delegated_grants (user_id);
