-- Failed sign-ins counted per zone for every node of a deployment, so a
-- cluster throttles as one server does. The key is the SHA-256 of what is
-- throttled (an account's email, a client address): attempted emails of
-- accounts that do not exist are not kept in plain text. Keep in step with
-- the other dialect.
CREATE TABLE sign_in_failures (
    zone_id         TEXT NOT NULL REFERENCES zones (id) ON DELETE CASCADE,
    throttle_key    BYTEA NOT NULL,
    failures        BIGINT NOT NULL,
    window_ends_at  BIGINT NOT NULL,
    PRIMARY KEY (zone_id, throttle_key)
);
CREATE INDEX sign_in_failures_window_idx ON sign_in_failures (window_ends_at);
