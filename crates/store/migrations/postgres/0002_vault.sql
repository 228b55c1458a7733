-- The vault: per-zone data keys, zone signing keys, secrets. Keep in step
-- with the other dialect. Private material is only ever stored sealed.

-- Deployment-wide facts, e.g. the fingerprint of the master key that wraps
-- the data keys (never the key itself).
CREATE TABLE deployment (
    name   TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);

-- One data-encryption key per zone (a version column leaves room for
-- rotation), wrapped by the master key or by the zone's AWS KMS key.
-- Deleted with the zone: crypto-shredding.
CREATE TABLE zone_data_keys (
    zone_id        TEXT NOT NULL REFERENCES zones (id) ON DELETE CASCADE,
    version        BIGINT NOT NULL,
    wrapping       TEXT NOT NULL CHECK (wrapping IN ('master', 'aws-kms')),
    master_key_id  TEXT,
    kms_key_arn    TEXT,
    wrapped        BYTEA NOT NULL,
    created_at     BIGINT NOT NULL,
    PRIMARY KEY (zone_id, version),
    CHECK ((wrapping = 'master' AND master_key_id IS NOT NULL)
        OR (wrapping = 'aws-kms' AND kms_key_arn IS NOT NULL))
);

CREATE INDEX zone_data_keys_wrapping_idx ON zone_data_keys (wrapping);

-- Zone signing keys. kids are random and never reused (primary key).
CREATE TABLE signing_keys (
    kid            TEXT NOT NULL,
    zone_id        TEXT NOT NULL REFERENCES zones (id) ON DELETE CASCADE,
    algorithm      TEXT NOT NULL CHECK (algorithm IN ('RS256', 'ES256', 'EdDSA')),
    state          TEXT NOT NULL CHECK (state IN ('next', 'current', 'retired')),
    public_jwk     TEXT NOT NULL,
    private_key    BYTEA NOT NULL,
    created_at     BIGINT NOT NULL,
    activated_at   BIGINT,
    retired_at     BIGINT,
    publish_until  BIGINT,
    CONSTRAINT signing_keys_pkey PRIMARY KEY (kid)
);

CREATE INDEX signing_keys_zone_idx ON signing_keys (zone_id, state);
-- At most one signing key and one published-next key per zone.
CREATE UNIQUE INDEX signing_keys_one_current_idx ON signing_keys (zone_id) WHERE state = 'current';
CREATE UNIQUE INDEX signing_keys_one_next_idx ON signing_keys (zone_id) WHERE state = 'next';

-- Vault secrets. data is sealed with the zone's data key; metadata is
-- stored in the clear, as the API documents.
CREATE TABLE secrets (
    id           TEXT PRIMARY KEY,
    zone_id      TEXT NOT NULL REFERENCES zones (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    entity_id    TEXT NOT NULL,
    kind         TEXT NOT NULL CHECK (kind IN ('token', 'password')),
    description  TEXT,
    metadata     TEXT,
    version      BIGINT NOT NULL CHECK (version >= 1),
    data         BYTEA NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);

CREATE INDEX secrets_zone_entity_idx ON secrets (zone_id, entity_id);
CREATE INDEX secrets_zone_position_idx ON secrets (zone_id, created_at, id);
