-- Keyzone schema, PostgreSQL dialect. Released migrations are never edited:
-- add a new numbered file instead. Keep in step with ../sqlite.
-- Timestamps are microseconds since the Unix epoch (BIGINT) in both dialects.

CREATE TABLE organizations (
    id          TEXT PRIMARY KEY,
    label       TEXT NOT NULL CONSTRAINT organizations_label_key UNIQUE,
    name        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE api_keys (
    id              TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    key_hash        BYTEA NOT NULL CONSTRAINT api_keys_key_hash_key UNIQUE,
    created_at      BIGINT NOT NULL
);

CREATE TABLE zones (
    id                                  TEXT PRIMARY KEY,
    organization_id                     TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name                                TEXT NOT NULL,
    slug                                TEXT NOT NULL,
    description                         TEXT,
    owner_type                          TEXT NOT NULL CHECK (owner_type IN ('platform', 'customer')),
    requires_invitation                 BOOLEAN NOT NULL,
    external_sync_enabled               BOOLEAN NOT NULL,
    login_flow                          TEXT NOT NULL CHECK (login_flow IN ('default', 'identifier_first')),
    dcr_enabled                         BOOLEAN NOT NULL,
    pkce_required                       BOOLEAN NOT NULL,
    cimd_enabled                        BOOLEAN NOT NULL,
    cimd_allowed_client_ids             TEXT NOT NULL,
    encryption_key_arn                  TEXT,
    default_mcp_gateway_application_id  TEXT,
    default_resource_id                 TEXT,
    user_identity_provider_id           TEXT,
    created_at                          BIGINT NOT NULL,
    updated_at                          BIGINT NOT NULL,
    CONSTRAINT zones_organization_slug_key UNIQUE (organization_id, slug)
);

CREATE INDEX zones_organization_position_idx ON zones (organization_id, created_at, id);
