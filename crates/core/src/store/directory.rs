//! The zone directory, one trait per aggregate: providers, applications,
//! resources, dependencies and credentials. `DirectoryStore` is all five.

use super::StoreError;
use async_trait::async_trait;
use keyzone_domain::directory::{Application, Credential, Provider, Resource};
use keyzone_domain::{
    ApplicationId, CredentialId, Page, PageRequest, ProviderId, ResourceId, Timestamp, ZoneId,
};

/// Filters shared by the directory's lists. Empty vectors filter nothing;
/// several values of one filter match any of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListFilter {
    pub ids: Vec<String>,
    pub identifiers: Vec<String>,
    pub slugs: Vec<String>,
    /// Case-insensitive substring of the name or the identifier.
    pub query_any: Vec<String>,
    pub query_name: Vec<String>,
    pub query_identifier: Vec<String>,
    pub owner_type: Option<keyzone_domain::zone::OwnerType>,
    /// Providers only; any of these types.
    pub provider_types: Vec<keyzone_domain::directory::ProviderType>,
    /// Resources only.
    pub credential_provider_id: Option<String>,
    /// Resources and credentials.
    pub application_id: Option<String>,
    /// Resources only: provided by an application with any of these traits.
    pub traits: Vec<String>,
}

/// A change to a write-only sealed value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SealedChange {
    Keep,
    Clear,
    Set(Vec<u8>),
}

/// A dependency: the resource, and the resources it applies when accessing.
#[derive(Debug, Clone, PartialEq)]
pub struct DependencyRecord {
    pub resource: keyzone_domain::directory::Resource,
    pub when_accessing: Vec<ResourceId>,
}

impl keyzone_domain::Positioned for DependencyRecord {
    fn id_str(&self) -> &str {
        self.resource.id.as_str()
    }
    fn created_at(&self) -> Timestamp {
        self.resource.created_at
    }
    fn sort_value(&self, field: &str) -> Option<keyzone_domain::SortValue> {
        self.resource.sort_value(field)
    }
}

#[async_trait]
pub trait ProviderStore: Send + Sync {
    async fn insert_provider(
        &self,
        p: &Provider,
        sealed_client_secret: Option<&[u8]>,
    ) -> Result<(), StoreError>;
    async fn get_provider(
        &self,
        zone: &ZoneId,
        id: &ProviderId,
    ) -> Result<Option<Provider>, StoreError>;
    /// The sealed client secret, if one is set.
    async fn provider_client_secret(
        &self,
        zone: &ZoneId,
        id: &ProviderId,
    ) -> Result<Option<Vec<u8>>, StoreError>;
    async fn list_providers(
        &self,
        zone: &ZoneId,
        filter: &ListFilter,
        page: &PageRequest,
    ) -> Result<Page<Provider>, StoreError>;
    /// Compare-and-set on `updated_at`, as `update_application`.
    async fn update_provider(
        &self,
        p: &Provider,
        secret: &SealedChange,
        expected: Timestamp,
    ) -> Result<bool, StoreError>;
    async fn delete_provider(&self, zone: &ZoneId, id: &ProviderId) -> Result<bool, StoreError>;
    /// What still refers to a provider: `("resource", id)`, `("credential", id)`.
    async fn provider_dependents(
        &self,
        zone: &ZoneId,
        id: &ProviderId,
    ) -> Result<Vec<(&'static str, String)>, StoreError>;
}

#[async_trait]
pub trait ApplicationStore: Send + Sync {
    /// Inserts the application and its initial dependencies in one transaction.
    async fn insert_application(
        &self,
        a: &Application,
        dependencies: &[ResourceId],
    ) -> Result<(), StoreError>;
    async fn get_application(
        &self,
        zone: &ZoneId,
        id: &ApplicationId,
    ) -> Result<Option<Application>, StoreError>;
    async fn list_applications(
        &self,
        zone: &ZoneId,
        filter: &ListFilter,
        page: &PageRequest,
    ) -> Result<Page<Application>, StoreError>;
    /// Compare-and-set: writes only while the row's `updated_at` is still
    /// `expected` (false when it changed or is gone), so concurrent
    /// read-modify-writes cannot lose each other's changes.
    async fn update_application(
        &self,
        a: &Application,
        expected: Timestamp,
    ) -> Result<bool, StoreError>;
    /// Also clears the application from the zone's defaults; its credentials
    /// and dependencies go with it, resources it provided keep existing.
    async fn delete_application(
        &self,
        zone: &ZoneId,
        id: &ApplicationId,
    ) -> Result<bool, StoreError>;
}

#[async_trait]
pub trait ResourceStore: Send + Sync {
    async fn insert_resource(&self, r: &Resource) -> Result<(), StoreError>;
    async fn get_resource(
        &self,
        zone: &ZoneId,
        id: &ResourceId,
    ) -> Result<Option<Resource>, StoreError>;
    async fn list_resources(
        &self,
        zone: &ZoneId,
        filter: &ListFilter,
        page: &PageRequest,
    ) -> Result<Page<Resource>, StoreError>;
    /// The resources whose identifier is one of `candidates` (an indexed
    /// lookup; the caller picks exact or longest prefix).
    async fn resources_by_identifier(
        &self,
        zone: &ZoneId,
        candidates: &[String],
    ) -> Result<Vec<Resource>, StoreError>;
    /// Compare-and-set on `updated_at`, as `update_application`.
    async fn update_resource(&self, r: &Resource, expected: Timestamp) -> Result<bool, StoreError>;
    /// Also removes it from dependencies and clears it from the zone's
    /// defaults, in one transaction.
    async fn delete_resource(&self, zone: &ZoneId, id: &ResourceId) -> Result<bool, StoreError>;
}

#[async_trait]
pub trait DependencyStore: Send + Sync {
    /// Creates or replaces a dependency and its `when_accessing` list.
    async fn put_dependency(
        &self,
        zone: &ZoneId,
        application: &ApplicationId,
        resource: &ResourceId,
        when_accessing: &[ResourceId],
    ) -> Result<(), StoreError>;
    async fn get_dependency(
        &self,
        zone: &ZoneId,
        application: &ApplicationId,
        resource: &ResourceId,
    ) -> Result<Option<DependencyRecord>, StoreError>;
    async fn list_dependencies(
        &self,
        zone: &ZoneId,
        application: &ApplicationId,
        page: &PageRequest,
    ) -> Result<Page<DependencyRecord>, StoreError>;
    async fn delete_dependency(
        &self,
        zone: &ZoneId,
        application: &ApplicationId,
        resource: &ResourceId,
    ) -> Result<bool, StoreError>;
}

#[async_trait]
pub trait CredentialStore: Send + Sync {
    async fn insert_credential(
        &self,
        c: &Credential,
        secret_digest: Option<&[u8; 32]>,
    ) -> Result<(), StoreError>;
    async fn get_credential(
        &self,
        zone: &ZoneId,
        id: &CredentialId,
    ) -> Result<Option<Credential>, StoreError>;
    /// A client by its OAuth client_id (any type but `token`), with the
    /// digest of its secret for password credentials. One indexed lookup.
    async fn credential_by_client_id(
        &self,
        zone: &ZoneId,
        client_id: &str,
    ) -> Result<Option<(Credential, Option<Vec<u8>>)>, StoreError>;
    /// Workload-identity (`token`) credentials for an assertion subject:
    /// those naming exactly `subject`, then the `*` wildcards.
    async fn token_credentials_for_subject(
        &self,
        zone: &ZoneId,
        subject: &str,
    ) -> Result<Vec<Credential>, StoreError>;
    async fn list_credentials(
        &self,
        zone: &ZoneId,
        filter: &ListFilter,
        page: &PageRequest,
    ) -> Result<Page<Credential>, StoreError>;
    /// Compare-and-set on `updated_at`, as `update_application`.
    async fn update_credential(
        &self,
        c: &Credential,
        expected: Timestamp,
    ) -> Result<bool, StoreError>;
    async fn delete_credential(&self, zone: &ZoneId, id: &CredentialId)
        -> Result<bool, StoreError>;
}

/// Everything the directory use cases store.
pub trait DirectoryStore:
    ProviderStore + ApplicationStore + ResourceStore + DependencyStore + CredentialStore
{
}
impl<T: ProviderStore + ApplicationStore + ResourceStore + DependencyStore + CredentialStore>
    DirectoryStore for T
{
}
