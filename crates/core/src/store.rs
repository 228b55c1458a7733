//! The storage interfaces the use cases need. `keyzone-store` implements them
//! for SQLite and PostgreSQL; the shared test suite there runs against both.
//!
//! Every zone-owned record is reached through its `ZoneId`, and every zone
//! through its `OrganizationId`: there is no method that reads across tenants.

use async_trait::async_trait;
use keyzone_domain::directory::{Application, Credential, Provider, Resource};
use keyzone_domain::organization::Organization;
use keyzone_domain::secret::Secret;
use keyzone_domain::zone::Zone;
use keyzone_domain::{
    ApiKeyId, ApplicationId, CredentialId, OrganizationId, Page, PageRequest, ProviderId,
    ResourceId, SecretId, Timestamp, ZoneId,
};

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
    ProviderIdentifierUnique,
    ApplicationIdentifierUnique,
    ResourceIdentifierUnique,
    CredentialIdentifierUnique,
    /// A slug taken in the zone (retried with a suffix when derived).
    SlugUnique,
    /// A referenced entity does not exist in the zone.
    MissingReference,
    /// The entity is still referred to (a provider used by a resource).
    StillReferenced,
    /// A constraint the mapping does not know: still a 409, with a generic text.
    Other,
}

impl Constraint {
    /// The request field at fault, if one is.
    pub fn field(self) -> Option<&'static str> {
        match self {
            Constraint::ZoneSlugUnique | Constraint::SlugUnique => Some("slug"),
            Constraint::ProviderIdentifierUnique
            | Constraint::ApplicationIdentifierUnique
            | Constraint::ResourceIdentifierUnique
            | Constraint::CredentialIdentifierUnique => Some("identifier"),
            Constraint::ApiKeyHashUnique
            | Constraint::SigningKeyKidUnique
            | Constraint::MasterKeyChanged
            | Constraint::MissingReference
            | Constraint::StillReferenced
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
            Constraint::ProviderIdentifierUnique => {
                "a provider with this identifier already exists in the zone"
            }
            Constraint::ApplicationIdentifierUnique => {
                "an application with this identifier already exists in the zone"
            }
            Constraint::ResourceIdentifierUnique => {
                "a resource with this identifier already exists in the zone"
            }
            Constraint::CredentialIdentifierUnique => {
                "a credential with this client identifier already exists in the zone"
            }
            Constraint::SlugUnique => "this slug is already used in the zone",
            Constraint::MissingReference => "a referenced entity does not exist in this zone",
            Constraint::StillReferenced => "the entity is still in use",
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
pub trait DirectoryStore: Send + Sync {
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
    async fn update_provider(
        &self,
        p: &Provider,
        secret: &SealedChange,
    ) -> Result<bool, StoreError>;
    async fn delete_provider(&self, zone: &ZoneId, id: &ProviderId) -> Result<bool, StoreError>;
    /// What still refers to a provider: `("resource", id)`, `("credential", id)`.
    async fn provider_dependents(
        &self,
        zone: &ZoneId,
        id: &ProviderId,
    ) -> Result<Vec<(&'static str, String)>, StoreError>;

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
    async fn update_application(&self, a: &Application) -> Result<bool, StoreError>;
    /// Also clears the application from the zone's defaults; its credentials
    /// and dependencies go with it, resources it provided keep existing.
    async fn delete_application(
        &self,
        zone: &ZoneId,
        id: &ApplicationId,
    ) -> Result<bool, StoreError>;

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
    async fn update_resource(&self, r: &Resource) -> Result<bool, StoreError>;
    /// Also removes it from dependencies and clears it from the zone's
    /// defaults, in one transaction.
    async fn delete_resource(&self, zone: &ZoneId, id: &ResourceId) -> Result<bool, StoreError>;

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
    async fn update_credential(&self, c: &Credential) -> Result<bool, StoreError>;
    async fn delete_credential(&self, zone: &ZoneId, id: &CredentialId)
        -> Result<bool, StoreError>;
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserFilter {
    pub ids: Vec<String>,
    pub emails: Vec<String>,
    pub identifiers: Vec<String>,
    pub issuers: Vec<String>,
    pub subjects: Vec<String>,
    pub external: Option<bool>,
    /// Substring of the email or the subject.
    pub query_any: Vec<String>,
    pub query_email: Vec<String>,
    pub query_subject: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionFilter {
    pub status: Option<keyzone_domain::identity::RecordStatus>,
    pub session_type: Option<String>,
    pub user_id: Option<String>,
    /// Child sessions too (by default only top-level sessions are listed).
    pub include_nested: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GrantFilter {
    pub status: Option<keyzone_domain::identity::RecordStatus>,
    pub resource_id: Option<String>,
    pub user_id: Option<String>,
}

/// Users with their derived counts.
#[derive(Debug, Clone, PartialEq)]
pub struct UserRecord {
    pub user: keyzone_domain::identity::User,
    pub grant_count: u64,
    pub session_count: u64,
}

impl keyzone_domain::Positioned for UserRecord {
    fn id_str(&self) -> &str {
        self.user.id.as_str()
    }
    fn created_at(&self) -> Timestamp {
        self.user.created_at
    }
    fn sort_value(&self, field: &str) -> Option<keyzone_domain::SortValue> {
        self.user.sort_value(field)
    }
}

#[async_trait]
pub trait IdentityStore: Send + Sync {
    async fn insert_user(&self, u: &keyzone_domain::identity::User) -> Result<(), StoreError>;
    async fn get_user(
        &self,
        zone: &ZoneId,
        id: &keyzone_domain::UserId,
    ) -> Result<Option<UserRecord>, StoreError>;
    async fn list_users(
        &self,
        zone: &ZoneId,
        filter: &UserFilter,
        page: &PageRequest,
    ) -> Result<Page<UserRecord>, StoreError>;

    async fn insert_user_agent(
        &self,
        ua: &keyzone_domain::identity::UserAgent,
    ) -> Result<(), StoreError>;
    async fn get_user_agent(
        &self,
        zone: &ZoneId,
        id: &keyzone_domain::UserAgentId,
    ) -> Result<Option<keyzone_domain::identity::UserAgent>, StoreError>;
    async fn user_agent_by_identifier(
        &self,
        zone: &ZoneId,
        identifier: &str,
    ) -> Result<Option<keyzone_domain::identity::UserAgent>, StoreError>;
    async fn list_user_agents(
        &self,
        zone: &ZoneId,
        page: &PageRequest,
    ) -> Result<Page<keyzone_domain::identity::UserAgent>, StoreError>;

    async fn insert_session(&self, s: &keyzone_domain::identity::Session)
        -> Result<(), StoreError>;
    /// Extends the active, unexpired application session of this login
    /// (application, provider, subject) to `expires_at`; false when there is
    /// none, so the caller inserts one.
    async fn extend_application_session(
        &self,
        zone: &ZoneId,
        application: &keyzone_domain::ApplicationId,
        provider: &keyzone_domain::ProviderId,
        subject: &str,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<bool, StoreError>;
    async fn get_session(
        &self,
        zone: &ZoneId,
        id: &keyzone_domain::SessionId,
    ) -> Result<Option<keyzone_domain::identity::Session>, StoreError>;
    async fn list_sessions(
        &self,
        zone: &ZoneId,
        filter: &SessionFilter,
        page: &PageRequest,
    ) -> Result<Page<keyzone_domain::identity::Session>, StoreError>;
    /// Revokes the session and every session nested under it.
    async fn revoke_session(
        &self,
        zone: &ZoneId,
        id: &keyzone_domain::SessionId,
    ) -> Result<bool, StoreError>;
    async fn delete_session(
        &self,
        zone: &ZoneId,
        id: &keyzone_domain::SessionId,
    ) -> Result<bool, StoreError>;

    async fn insert_grant(&self, g: &keyzone_domain::identity::Grant) -> Result<(), StoreError>;
    async fn get_grant(
        &self,
        zone: &ZoneId,
        id: &keyzone_domain::GrantId,
    ) -> Result<Option<keyzone_domain::identity::Grant>, StoreError>;
    async fn list_grants(
        &self,
        zone: &ZoneId,
        filter: &GrantFilter,
        page: &PageRequest,
    ) -> Result<Page<keyzone_domain::identity::Grant>, StoreError>;
    async fn revoke_grant(
        &self,
        zone: &ZoneId,
        id: &keyzone_domain::GrantId,
    ) -> Result<bool, StoreError>;
    async fn delete_grant(
        &self,
        zone: &ZoneId,
        id: &keyzone_domain::GrantId,
    ) -> Result<bool, StoreError>;
}

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
