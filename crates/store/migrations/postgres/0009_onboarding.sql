-- Bringing people into a zone: email verification codes and invitations
-- (a Keyzone extension). Codes and invitation tokens are stored only as
-- keyed digests. Keep in step with the other dialect.

-- One live verification code per user; a new one replaces it.
CREATE TABLE email_codes (
    zone_id     TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    code_hash   BYTEA NOT NULL,
    -- Wrong codes entered against this one.
    attempts    INTEGER NOT NULL DEFAULT 0,
    sent_at     BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    PRIMARY KEY (zone_id, user_id),
    CONSTRAINT email_codes_user_fkey FOREIGN KEY (zone_id, user_id)
        REFERENCES users (zone_id, id) ON DELETE CASCADE
);

-- An email allowed to sign up in a zone that requires invitations; its
-- link (a secret token) lets the person set a password.
CREATE TABLE user_invitations (
    id           TEXT PRIMARY KEY,
    zone_id      TEXT NOT NULL REFERENCES zones (id) ON DELETE CASCADE,
    email        TEXT NOT NULL,
    token_hash   BYTEA NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    accepted_at  BIGINT,
    CONSTRAINT user_invitations_zone_id_key UNIQUE (zone_id, id),
    CONSTRAINT user_invitations_zone_email_key UNIQUE (zone_id, email),
    CONSTRAINT user_invitations_token_key UNIQUE (token_hash)
);
CREATE INDEX user_invitations_zone_created_idx ON user_invitations (zone_id, created_at, id);
