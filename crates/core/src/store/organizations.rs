//! Organizations and their management API keys.

use super::StoreError;
use async_trait::async_trait;
use keyzone_domain::organization::Organization;
use keyzone_domain::{ApiKeyId, OrganizationId, Timestamp};

#[async_trait]
pub trait OrganizationStore: Send + Sync {
    async fn insert_organization(&self, org: &Organization) -> Result<(), StoreError>;
    /// The organization labelled `candidate.label`, created from `candidate`
    /// if there is none yet. Safe when several nodes start at once.
    async fn ensure_organization(
        &self,
        candidate: &Organization,
    ) -> Result<Organization, StoreError>;
}

/// A stored management API key: only a hash of the secret is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    pub id: ApiKeyId,
    pub organization_id: OrganizationId,
    pub name: String,
    /// SHA-256 of the whole key. Keys are 256-bit random strings (or an
    /// operator's chosen bootstrap value), so a fast hash suffices.
    pub key_hash: [u8; 32],
    pub created_at: Timestamp,
}

#[async_trait]
pub trait ApiKeyStore: Send + Sync {
    async fn insert_api_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError>;
    async fn find_api_key(&self, key_hash: &[u8; 32]) -> Result<Option<ApiKeyRecord>, StoreError>;
    async fn count_api_keys(&self) -> Result<u64, StoreError>;
    /// Every key, oldest first. The records carry hashes: never print them.
    async fn list_api_keys(&self) -> Result<Vec<ApiKeyRecord>, StoreError>;
    /// Deletes a key (revocation: it authenticates nothing afterwards);
    /// false when there is no key with this id.
    async fn delete_api_key(&self, id: &ApiKeyId) -> Result<bool, StoreError>;
}
