//! Zone signing keys, the private parts sealed with the zone data key.

use super::StoreError;
use async_trait::async_trait;
use keyzone_domain::{Timestamp, ZoneId};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigningKeyState {
    /// Published in the JWKS, not yet signing.
    Next,
    /// Signing.
    Current,
    /// No longer signing; published until `publish_until`.
    Retired,
}

impl SigningKeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Next => "next",
            Self::Current => "current",
            Self::Retired => "retired",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "next" => Some(Self::Next),
            "current" => Some(Self::Current),
            "retired" => Some(Self::Retired),
            _ => None,
        }
    }
}

/// A zone signing key as stored: the private key sealed with the zone's
/// data key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSigningKey {
    pub zone_id: ZoneId,
    pub kid: String,
    pub algorithm: String,
    pub state: SigningKeyState,
    pub public_jwk: String,
    pub sealed_private_key: Vec<u8>,
    pub created_at: Timestamp,
    pub activated_at: Option<Timestamp>,
    pub retired_at: Option<Timestamp>,
    pub publish_until: Option<Timestamp>,
}

#[async_trait]
pub trait SigningKeyStore: Send + Sync {
    /// The zone's keys in every state (empty if the zone does not exist).
    async fn signing_keys(&self, zone: &ZoneId) -> Result<Vec<StoredSigningKey>, StoreError>;
    /// Rotates in one transaction: `current_kid` (which must still be the
    /// current key) is retired until `publish_until`, the next key becomes
    /// current, and `new_next` is added. False if another node rotated first.
    async fn rotate_signing_keys(
        &self,
        zone: &ZoneId,
        current_kid: &str,
        next_kid: &str,
        publish_until: Timestamp,
        new_next: &StoredSigningKey,
    ) -> Result<bool, StoreError>;
    /// Zones whose current key was activated before `before`.
    async fn zones_with_current_key_before(
        &self,
        before: Timestamp,
    ) -> Result<Vec<ZoneId>, StoreError>;
    /// Deletes retired keys no longer published at `now`.
    async fn purge_signing_keys(&self, now: Timestamp) -> Result<u64, StoreError>;
}
