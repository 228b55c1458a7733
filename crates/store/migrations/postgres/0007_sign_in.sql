-- People signing in to a zone (authorization code with PKCE): password
-- credentials, browser sessions, authorization codes, refresh tokens and
-- remembered consent. Secrets (passwords, cookies, codes, refresh tokens)
-- are stored only as digests. Keep in step with the other dialect.

-- A person's email identifies their password account in the zone.
CREATE UNIQUE INDEX users_zone_local_email_key ON users (zone_id, email) WHERE external = FALSE;

CREATE TABLE user_passwords (
    zone_id        TEXT NOT NULL,
    user_id        TEXT NOT NULL,
    -- argon2id, PHC string format.
    password_hash  TEXT NOT NULL,
    updated_at     BIGINT NOT NULL,
    PRIMARY KEY (zone_id, user_id),
    CONSTRAINT user_passwords_user_fkey FOREIGN KEY (zone_id, user_id)
        REFERENCES users (zone_id, id) ON DELETE CASCADE
);

-- What a person calls themselves (OIDC `name`, with the `profile` scope).
CREATE TABLE user_profiles (
    zone_id  TEXT NOT NULL,
    user_id  TEXT NOT NULL,
    name     TEXT NOT NULL,
    PRIMARY KEY (zone_id, user_id),
    CONSTRAINT user_profiles_user_fkey FOREIGN KEY (zone_id, user_id)
        REFERENCES users (zone_id, id) ON DELETE CASCADE
);

-- The browser-session cookie's secret, for a top-level user session.
CREATE TABLE session_secrets (
    session_id   TEXT PRIMARY KEY REFERENCES sessions (id) ON DELETE CASCADE,
    zone_id      TEXT NOT NULL REFERENCES zones (id) ON DELETE CASCADE,
    secret_hash  BYTEA NOT NULL
);

-- Single-use, short-lived; consumed by setting used_at.
CREATE TABLE authorization_codes (
    code_hash        BYTEA PRIMARY KEY,
    zone_id          TEXT NOT NULL REFERENCES zones (id) ON DELETE CASCADE,
    -- The browser session that approved it.
    session_id       TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    -- JSON: client, redirect URI, PKCE challenge, resources, scopes, nonce, auth_time.
    grant_data       TEXT NOT NULL,
    expires_at       BIGINT NOT NULL,
    used_at          BIGINT,
    -- The refresh-token session the code's redemption created (revoked on replay).
    issued_session_id TEXT
);
CREATE INDEX authorization_codes_expiry_idx ON authorization_codes (expires_at);

-- One family per refresh-token session (a child of the browser session):
-- rotation marks the old token, reuse outside the grace window revokes the
-- session and with it the family.
CREATE TABLE refresh_tokens (
    token_hash   BYTEA PRIMARY KEY,
    zone_id      TEXT NOT NULL REFERENCES zones (id) ON DELETE CASCADE,
    session_id   TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    -- JSON: client, resources, scopes, auth_time, nonce.
    grant_data   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    rotated_at   BIGINT
);
CREATE INDEX refresh_tokens_session_idx ON refresh_tokens (session_id);

-- A person's consent, per client and set of scopes and resources.
CREATE TABLE consents (
    zone_id     TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    client_id   TEXT NOT NULL,
    grant_key   TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (zone_id, user_id, client_id, grant_key),
    CONSTRAINT consents_user_fkey FOREIGN KEY (zone_id, user_id)
        REFERENCES users (zone_id, id) ON DELETE CASCADE
);
