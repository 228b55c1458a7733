//! Revoked access tokens and single-use client assertion ids.

use super::StoreError;
use async_trait::async_trait;
use keyzone_domain::{Timestamp, ZoneId};

#[async_trait]
pub trait RevocationStore: Send + Sync {
    /// Records a revoked token until `expires_at`; revoking twice is fine.
    async fn revoke_token(
        &self,
        zone: &ZoneId,
        jti: &str,
        expires_at: Timestamp,
    ) -> Result<(), StoreError>;
    async fn is_token_revoked(&self, zone: &ZoneId, jti: &str) -> Result<bool, StoreError>;
    /// Forgets revocations of tokens, and client assertion jtis, that have
    /// expired by `now`.
    async fn purge_revocations(&self, now: Timestamp) -> Result<u64, StoreError>;
    /// Records the use of a client assertion's `jti` (RFC 7523 §3, item 7):
    /// true the first time, false while an earlier use has not expired.
    async fn consume_assertion_jti(
        &self,
        zone: &ZoneId,
        client_id: &str,
        jti: &str,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<bool, StoreError>;
}
