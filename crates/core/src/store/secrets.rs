//! Vault secrets: records plus sealed values.

use super::StoreError;
use async_trait::async_trait;
use keyzone_domain::secret::Secret;
use keyzone_domain::{SecretId, Timestamp, ZoneId};

/// A secret's record plus its sealed value.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredSecret {
    pub secret: Secret,
    pub sealed_data: Vec<u8>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecretFilter {
    pub entity_id: Option<String>,
    pub kind: Option<keyzone_domain::secret::SecretKind>,
}

#[async_trait]
pub trait SecretStore: Send + Sync {
    async fn insert_secret(&self, secret: &StoredSecret) -> Result<(), StoreError>;
    async fn get_secret(
        &self,
        zone: &ZoneId,
        id: &SecretId,
    ) -> Result<Option<StoredSecret>, StoreError>;
    /// Records only, in creation order.
    async fn list_secrets(
        &self,
        zone: &ZoneId,
        filter: &SecretFilter,
    ) -> Result<Vec<Secret>, StoreError>;
    /// Writes the record and value; false if the secret is gone.
    /// Compare-and-set: writes only while `updated_at` is still `expected`
    /// and the stored version is the new one or the one before it, so two
    /// writers can never store the same version twice or go backwards.
    async fn update_secret(
        &self,
        secret: &StoredSecret,
        expected: Timestamp,
    ) -> Result<bool, StoreError>;
    async fn delete_secret(&self, zone: &ZoneId, id: &SecretId) -> Result<bool, StoreError>;
}
