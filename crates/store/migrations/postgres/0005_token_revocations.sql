-- Revoked access tokens (RFC 7009), by jti, kept until the token would have
-- expired anyway. Keep in step with the other dialect.
CREATE TABLE revoked_tokens (
    zone_id     TEXT NOT NULL REFERENCES zones (id) ON DELETE CASCADE,
    jti         TEXT NOT NULL,
    expires_at  BIGINT NOT NULL,
    revoked_at  BIGINT NOT NULL,
    PRIMARY KEY (zone_id, jti)
);
CREATE INDEX revoked_tokens_expiry_idx ON revoked_tokens (expires_at);
