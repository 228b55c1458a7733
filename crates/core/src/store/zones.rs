//! Zones: the tenant root. A zone is written with its keys and platform
//! entities in one transaction.

use super::{StoreError, StoredSigningKey, WrappedDataKey};
use async_trait::async_trait;
use keyzone_domain::directory::{Application, Provider};
use keyzone_domain::zone::Zone;
use keyzone_domain::{OrganizationId, Page, PageRequest, Timestamp, ZoneId};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ZoneFilter {
    pub slug: Option<String>,
}

/// What a new zone starts with, written with the zone in one transaction:
/// a zone never exists without its keys and platform providers.
#[derive(Debug, Clone)]
pub struct NewZoneKeys {
    pub data_key: WrappedDataKey,
    pub signing_keys: Vec<StoredSigningKey>,
    pub platform_providers: Vec<Provider>,
    pub platform_applications: Vec<Application>,
}

#[async_trait]
pub trait ZoneStore: Send + Sync {
    async fn insert_zone(&self, zone: &Zone, keys: &NewZoneKeys) -> Result<(), StoreError>;
    async fn get_zone(&self, org: &OrganizationId, id: &ZoneId)
        -> Result<Option<Zone>, StoreError>;
    /// A zone by id alone, for its own public endpoints (the id is global).
    async fn get_zone_by_id(&self, id: &ZoneId) -> Result<Option<Zone>, StoreError>;
    async fn list_zones(
        &self,
        org: &OrganizationId,
        filter: &ZoneFilter,
        page: &PageRequest,
    ) -> Result<Page<Zone>, StoreError>;
    /// Writes every mutable field, and the data key's new wrapping when the
    /// zone's encryption key changed, in one transaction; false if the zone
    /// is gone.
    /// Compare-and-set on `updated_at` (false when it changed or is gone).
    async fn update_zone(
        &self,
        zone: &Zone,
        expected: Timestamp,
        rewrapped: Option<&WrappedDataKey>,
    ) -> Result<bool, StoreError>;
    /// Deletes the zone and, through the schema's cascades, all it owns.
    async fn delete_zone(&self, org: &OrganizationId, id: &ZoneId) -> Result<bool, StoreError>;
}
