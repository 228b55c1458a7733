-- Delegated grants hold the upstream tokens (issue #13, D.9.2): the access
-- and refresh tokens sealed under the zone's data key (associated data:
-- zone, `delegated_grant`, grant id, field), and the single-flight refresh
-- lease: `version` is bumped by every change to the tokens, and a node that
-- refreshes first claims `refresh_lease_until` with a compare-and-set on
-- `version`, so concurrent exchanges on any node cause one upstream refresh.
ALTER TABLE delegated_grants ADD COLUMN access_token_sealed BYTEA;
ALTER TABLE delegated_grants ADD COLUMN refresh_token_sealed BYTEA;
ALTER TABLE delegated_grants ADD COLUMN version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE delegated_grants ADD COLUMN refresh_lease_until BIGINT;
CREATE INDEX delegated_grants_user_resource_idx ON delegated_grants (zone_id, user_id, resource_id);
