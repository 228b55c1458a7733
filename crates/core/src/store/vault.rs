//! Zone data keys, only ever wrapped.

use super::StoreError;
use async_trait::async_trait;
use keyzone_domain::{Timestamp, ZoneId};

/// A zone's data key as stored: wrapped, never in the clear.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrappedDataKey {
    pub zone_id: ZoneId,
    pub version: u32,
    pub wrapping: KeyWrapping,
    pub wrapped: Vec<u8>,
    pub created_at: Timestamp,
}

/// What wraps a zone's data key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyWrapping {
    /// The deployment's master key, identified by its fingerprint.
    Master { master_key_id: String },
    /// A customer-managed AWS KMS key.
    AwsKms { arn: String },
}

#[async_trait]
pub trait VaultStore: Send + Sync {
    async fn data_key(
        &self,
        zone: &ZoneId,
        version: u32,
    ) -> Result<Option<WrappedDataKey>, StoreError>;
    /// Every data key wrapped by the master key (for master-key rotation).
    async fn master_wrapped_data_keys(&self) -> Result<Vec<WrappedDataKey>, StoreError>;
    /// Replaces the wrapping of the given data keys and records the new
    /// master key id, in one transaction, but only if the recorded id is
    /// still `expected_master_key_id`. False if it was not.
    async fn rewrap_data_keys(
        &self,
        rewrapped: &[WrappedDataKey],
        expected_master_key_id: &str,
        new_master_key_id: &str,
    ) -> Result<bool, StoreError>;
    /// The id of the master key the database is encrypted under, recording
    /// `candidate` if none is recorded yet.
    async fn init_master_key_id(&self, candidate: &str) -> Result<String, StoreError>;
}
