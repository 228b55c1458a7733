//! The storage interfaces the use cases need. `keyzone-store` implements them
//! for SQLite and PostgreSQL; the shared test suite there runs against both.
//!
//! Every zone-owned record is reached through its `ZoneId`, and every zone
//! through its `OrganizationId`: there is no method that reads across tenants.
//!
//! One module per aggregate, each trait as narrow as its users need; a use
//! case holds only the traits it uses (the authorization server declares its
//! own, `keyzone_authserver::store::TokenStore`, over these).

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
    /// A user with this email already signs in with a password in the zone.
    UserEmailUnique,
    /// The email already has an invitation in the zone.
    InvitationEmailUnique,
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
            Constraint::UserEmailUnique | Constraint::InvitationEmailUnique => Some("email"),
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
            Constraint::UserEmailUnique => "a user with this email already exists in the zone",
            Constraint::InvitationEmailUnique => "this email already has an invitation to the zone",
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

mod directory;
mod health;
mod identity;
mod onboarding;
mod organizations;
mod revocations;
mod secrets;
mod signin;
mod signing_keys;
mod throttle;
mod vault;
mod zones;

pub use directory::*;
pub use health::*;
pub use identity::*;
pub use onboarding::*;
pub use organizations::*;
pub use revocations::*;
pub use secrets::*;
pub use signin::*;
pub use signing_keys::*;
pub use throttle::*;
pub use vault::*;
pub use zones::*;

/// Every store a deployment has: what the binary and the tests hand to the
/// wiring (`keyzone_api::AppState::new`). One database implements all of them.
pub trait Stores:
    ZoneStore
    + OrganizationStore
    + ApiKeyStore
    + VaultStore
    + SigningKeyStore
    + SecretStore
    + DirectoryStore
    + IdentityStore
    + RevocationStore
    + SignInStore
    + SignInThrottleStore
    + OnboardingStore
    + HealthCheck
    + 'static
{
}
impl<T> Stores for T where
    T: ZoneStore
        + OrganizationStore
        + ApiKeyStore
        + VaultStore
        + SigningKeyStore
        + SecretStore
        + DirectoryStore
        + IdentityStore
        + RevocationStore
        + SignInStore
        + SignInThrottleStore
        + OnboardingStore
        + HealthCheck
        + 'static
{
}
