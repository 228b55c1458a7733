//! The storage interfaces the use cases need. `keyzone-store` implements them
//! for SQLite and PostgreSQL; the shared test suite there runs against both.
//!
//! Every zone-owned record is reached through its `ZoneId`, and every zone
//! through its `OrganizationId`: there is no method that reads across tenants.

use async_trait::async_trait;
use keyzone_domain::organization::Organization;
use keyzone_domain::secret::Secret;
use keyzone_domain::zone::Zone;
use keyzone_domain::{ApiKeyId, OrganizationId, Page, PageRequest, SecretId, Timestamp, ZoneId};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A database constraint that a write broke, by meaning rather than by name.
/// The store maps each constraint name of its schema to one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Constraint {
    ZoneSlugUnique,
    ApiKeyHashUnique,
    SigningKeyKidUnique,
    /// The master key was rotated by another process since this one started.
    MasterKeyChanged,
    /// A constraint the mapping does not know: still a 409, with a generic text.
    Other,
}

impl Constraint {
    /// The request field at fault, if one is.
    pub fn field(self) -> Option<&'static str> {
        match self {
            Constraint::ZoneSlugUnique => Some("slug"),
            Constraint::ApiKeyHashUnique
            | Constraint::SigningKeyKidUnique
            | Constraint::MasterKeyChanged
            | Constraint::Other => None,
        }
    }
    pub fn message(self) -> &'static str {
        match self {
            Constraint::ZoneSlugUnique => {
                "a zone with this slug already exists in the organization"
            }
            Constraint::ApiKeyHashUnique => "this API key already exists",
            Constraint::SigningKeyKidUnique => "a signing key with this kid already exists",
            Constraint::MasterKeyChanged => {
                "the master key was rotated by another process; restart this node with the new key"
            }
            Constraint::Other => "the request conflicts with the current state of the resource",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("constraint violated: {0:?}")]
    Conflict(Constraint),
    #[error("database unavailable")]
    Unavailable(#[source] BoxError),
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    #[error("database error")]
    Other(#[source] BoxError),
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ZoneFilter {
    pub slug: Option<String>,
}

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

/// The key material a new zone starts with, written with the zone in one
/// transaction: a zone never exists without its keys.
#[derive(Debug, Clone)]
pub struct NewZoneKeys {
    pub data_key: WrappedDataKey,
    pub signing_keys: Vec<StoredSigningKey>,
}

#[async_trait]
pub trait ZoneStore: Send + Sync {
    async fn insert_zone(&self, zone: &Zone, keys: &NewZoneKeys) -> Result<(), StoreError>;
    async fn get_zone(&self, org: &OrganizationId, id: &ZoneId)
        -> Result<Option<Zone>, StoreError>;
    async fn list_zones(
        &self,
        org: &OrganizationId,
        filter: &ZoneFilter,
        page: &PageRequest,
    ) -> Result<Page<Zone>, StoreError>;
    /// Writes every mutable field, and the data key's new wrapping when the
    /// zone's encryption key changed, in one transaction; false if the zone
    /// is gone.
    async fn update_zone(
        &self,
        zone: &Zone,
        rewrapped: Option<&WrappedDataKey>,
    ) -> Result<bool, StoreError>;
    /// Deletes the zone and, through the schema's cascades, all it owns.
    async fn delete_zone(&self, org: &OrganizationId, id: &ZoneId) -> Result<bool, StoreError>;
}

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
}

#[async_trait]
pub trait HealthCheck: Send + Sync {
    /// Ok if the database answers a trivial query.
    async fn ping(&self) -> Result<(), StoreError>;
    /// (open connections, idle connections) of the database pool.
    fn pool_usage(&self) -> (u32, u32);
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
    async fn update_secret(&self, secret: &StoredSecret) -> Result<bool, StoreError>;
    async fn delete_secret(&self, zone: &ZoneId, id: &SecretId) -> Result<bool, StoreError>;
}
