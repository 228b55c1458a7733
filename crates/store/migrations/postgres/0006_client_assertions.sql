-- Client assertions (RFC 7523 private_key_jwt, URL client identities): each
-- jti is accepted once per client until the assertion expires. Keep in step
-- with the other dialect.
CREATE TABLE client_assertion_jtis (
    zone_id     TEXT NOT NULL REFERENCES zones (id) ON DELETE CASCADE,
    client_id   TEXT NOT NULL,
    jti         TEXT NOT NULL,
    expires_at  BIGINT NOT NULL,
    PRIMARY KEY (zone_id, client_id, jti)
);
CREATE INDEX client_assertion_jtis_expiry_idx ON client_assertion_jtis (expires_at);

-- Workload identity looks token credentials up by the assertion's subject
-- (or the `*` wildcard credential).
CREATE INDEX application_credentials_token_subject_idx
    ON application_credentials (zone_id, identifier) WHERE type = 'token';

-- Application sessions are found again by who signed in, to be extended
-- rather than duplicated.
CREATE INDEX sessions_application_login_idx
    ON sessions (zone_id, application_id, provider_id, subject) WHERE session_type = 'application';
