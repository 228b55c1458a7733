//! The storage interfaces the use cases need. `keyzone-store` implements them
//! for SQLite and PostgreSQL; the shared test suite there runs against both.
//!
//! Every zone-owned record is reached through its `ZoneId`, and every zone
//! through its `OrganizationId`: there is no method that reads across tenants.

use async_trait::async_trait;
use keyzone_domain::organization::Organization;
use keyzone_domain::zone::Zone;
use keyzone_domain::{ApiKeyId, OrganizationId, Page, PageRequest, Timestamp};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A database constraint that a write broke, by meaning rather than by name.
/// The store maps each constraint name of its schema to one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Constraint {
    ZoneSlugUnique,
    ApiKeyHashUnique,
    /// A constraint the mapping does not know: still a 409, with a generic text.
    Other,
}

impl Constraint {
    /// The request field at fault, if one is.
    pub fn field(self) -> Option<&'static str> {
        match self {
            Constraint::ZoneSlugUnique => Some("slug"),
            Constraint::ApiKeyHashUnique | Constraint::Other => None,
        }
    }
    pub fn message(self) -> &'static str {
        match self {
            Constraint::ZoneSlugUnique => {
                "a zone with this slug already exists in the organization"
            }
            Constraint::ApiKeyHashUnique => "this API key already exists",
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

#[async_trait]
pub trait ZoneStore: Send + Sync {
    async fn insert_zone(&self, zone: &Zone) -> Result<(), StoreError>;
    async fn get_zone(
        &self,
        org: &OrganizationId,
        id: &keyzone_domain::ZoneId,
    ) -> Result<Option<Zone>, StoreError>;
    async fn list_zones(
        &self,
        org: &OrganizationId,
        filter: &ZoneFilter,
        page: &PageRequest,
    ) -> Result<Page<Zone>, StoreError>;
    /// Writes every mutable field; false if the zone is gone.
    async fn update_zone(&self, zone: &Zone) -> Result<bool, StoreError>;
    /// Deletes the zone and, through the schema's cascades, all it owns.
    async fn delete_zone(
        &self,
        org: &OrganizationId,
        id: &keyzone_domain::ZoneId,
    ) -> Result<bool, StoreError>;
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
