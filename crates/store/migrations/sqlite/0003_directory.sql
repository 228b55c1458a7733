-- The zone directory: providers, applications, resources, dependencies and
-- application credentials. Keep in step with the other dialect.
-- Nested configuration (metadata, protocols, lists) is JSON text; what is
-- queried, unique or referenced has a column of its own.
-- References that must stay inside the zone are composite foreign keys on
-- (zone_id, id), so the database itself refuses a cross-zone reference.

CREATE TABLE providers (
    id             TEXT PRIMARY KEY,
    zone_id        TEXT NOT NULL REFERENCES zones (id) ON DELETE CASCADE,
    identifier     TEXT NOT NULL,
    name           TEXT NOT NULL,
    slug           TEXT NOT NULL,
    description    TEXT,
    type           TEXT NOT NULL CHECK (type IN ('external', 'keycard-vault', 'keycard-sts')),
    owner_type     TEXT NOT NULL CHECK (owner_type IN ('platform', 'customer')),
    client_id      TEXT,
    client_secret  BLOB,
    icon_url       TEXT,
    protocols      TEXT,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL,
    CONSTRAINT providers_zone_id_key UNIQUE (zone_id, id),
    CONSTRAINT providers_zone_identifier_key UNIQUE (zone_id, identifier),
    CONSTRAINT providers_zone_slug_key UNIQUE (zone_id, slug)
);
CREATE INDEX providers_zone_position_idx ON providers (zone_id, created_at, id);

CREATE TABLE applications (
    id                         TEXT PRIMARY KEY,
    zone_id                    TEXT NOT NULL REFERENCES zones (id) ON DELETE CASCADE,
    identifier                 TEXT NOT NULL,
    name                       TEXT NOT NULL,
    slug                       TEXT NOT NULL,
    description                TEXT,
    consent                    TEXT NOT NULL CHECK (consent IN ('implicit', 'required')),
    owner_type                 TEXT NOT NULL CHECK (owner_type IN ('platform', 'customer')),
    traits                     TEXT NOT NULL,
    metadata                   TEXT,
    redirect_uris              TEXT,
    post_logout_redirect_uris  TEXT,
    created_at                 BIGINT NOT NULL,
    updated_at                 BIGINT NOT NULL,
    CONSTRAINT applications_zone_id_key UNIQUE (zone_id, id),
    CONSTRAINT applications_zone_identifier_key UNIQUE (zone_id, identifier),
    CONSTRAINT applications_zone_slug_key UNIQUE (zone_id, slug)
);
CREATE INDEX applications_zone_position_idx ON applications (zone_id, created_at, id);

CREATE TABLE resources (
    id                           TEXT PRIMARY KEY,
    zone_id                      TEXT NOT NULL REFERENCES zones (id) ON DELETE CASCADE,
    identifier                   TEXT NOT NULL,
    name                         TEXT NOT NULL,
    slug                         TEXT NOT NULL,
    description                  TEXT,
    -- Cleared when the application is deleted; same-zone is checked on write.
    application_id               TEXT REFERENCES applications (id) ON DELETE SET NULL,
    application_type             TEXT NOT NULL CHECK (application_type IN ('native', 'web')),
    credential_provider_id       TEXT,
    credential_lifetime_seconds  BIGINT CHECK (credential_lifetime_seconds BETWEEN 60 AND 86400),
    prefix                       BOOLEAN NOT NULL,
    scopes                       TEXT,
    metadata                     TEXT,
    owner_type                   TEXT NOT NULL CHECK (owner_type IN ('platform', 'customer')),
    created_at                   BIGINT NOT NULL,
    updated_at                   BIGINT NOT NULL,
    CONSTRAINT resources_zone_id_key UNIQUE (zone_id, id),
    -- Also the index of resource resolution (exact and prefix candidates).
    CONSTRAINT resources_zone_identifier_key UNIQUE (zone_id, identifier),
    CONSTRAINT resources_zone_slug_key UNIQUE (zone_id, slug),
    CONSTRAINT resources_credential_provider_fkey FOREIGN KEY (zone_id, credential_provider_id)
        REFERENCES providers (zone_id, id)
);
CREATE INDEX resources_zone_position_idx ON resources (zone_id, created_at, id);
CREATE INDEX resources_application_idx ON resources (application_id);
CREATE INDEX resources_credential_provider_idx ON resources (zone_id, credential_provider_id);

CREATE TABLE application_dependencies (
    zone_id         TEXT NOT NULL,
    application_id  TEXT NOT NULL,
    resource_id     TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (application_id, resource_id),
    CONSTRAINT application_dependencies_application_fkey FOREIGN KEY (zone_id, application_id)
        REFERENCES applications (zone_id, id) ON DELETE CASCADE,
    CONSTRAINT application_dependencies_resource_fkey FOREIGN KEY (zone_id, resource_id)
        REFERENCES resources (zone_id, id) ON DELETE CASCADE
);
CREATE INDEX application_dependencies_resource_idx ON application_dependencies (resource_id);

-- when_accessing: the dependency applies only while the subject's token was
-- issued for one of these resources.
CREATE TABLE dependency_conditions (
    zone_id                  TEXT NOT NULL,
    application_id           TEXT NOT NULL,
    resource_id              TEXT NOT NULL,
    when_accessing_id        TEXT NOT NULL,
    PRIMARY KEY (application_id, resource_id, when_accessing_id),
    CONSTRAINT dependency_conditions_dependency_fkey FOREIGN KEY (application_id, resource_id)
        REFERENCES application_dependencies (application_id, resource_id) ON DELETE CASCADE,
    CONSTRAINT dependency_conditions_resource_fkey FOREIGN KEY (zone_id, when_accessing_id)
        REFERENCES resources (zone_id, id) ON DELETE CASCADE
);
CREATE INDEX dependency_conditions_when_idx ON dependency_conditions (when_accessing_id);

CREATE TABLE application_credentials (
    id              TEXT PRIMARY KEY,
    zone_id         TEXT NOT NULL,
    application_id  TEXT NOT NULL,
    type            TEXT NOT NULL CHECK (type IN ('token', 'password', 'public-key', 'url', 'public')),
    identifier      TEXT NOT NULL,
    slug            TEXT NOT NULL,
    provider_id     TEXT,
    subject         TEXT,
    jwks_uri        TEXT,
    -- password credentials: a keyed hash of the secret, never the secret.
    secret_digest   BLOB,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    CONSTRAINT application_credentials_application_fkey FOREIGN KEY (zone_id, application_id)
        REFERENCES applications (zone_id, id) ON DELETE CASCADE,
    CONSTRAINT application_credentials_provider_fkey FOREIGN KEY (zone_id, provider_id)
        REFERENCES providers (zone_id, id),
    CHECK ((type = 'token') = (provider_id IS NOT NULL)),
    CHECK ((type = 'password') = (secret_digest IS NOT NULL)),
    CHECK ((type = 'public-key') = (jwks_uri IS NOT NULL))
);
-- Client identifiers are unique in a zone; workload-identity subjects are
-- unique per provider.
CREATE UNIQUE INDEX application_credentials_zone_identifier_key
    ON application_credentials (zone_id, identifier) WHERE type <> 'token';
CREATE UNIQUE INDEX application_credentials_zone_provider_subject_key
    ON application_credentials (zone_id, provider_id, identifier) WHERE type = 'token';
CREATE INDEX application_credentials_zone_position_idx ON application_credentials (zone_id, created_at, id);
CREATE INDEX application_credentials_application_idx ON application_credentials (application_id);
CREATE INDEX application_credentials_provider_idx ON application_credentials (zone_id, provider_id);
