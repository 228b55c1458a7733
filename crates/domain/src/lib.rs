//! Keyzone's domain: the types every other crate speaks, and the rules that
//! make a value valid. Nothing here does I/O, so every rule is unit-testable.

pub mod directory;
pub mod id;
pub mod identity;
pub mod invitation;
pub mod organization;
pub mod page;
pub mod secret;
pub mod time;
pub mod urls;
pub mod validation;
pub mod zone;

pub use id::{
    ApiKeyId, ApplicationId, CredentialId, GrantId, IdError, InvitationId, OrganizationId,
    ProviderId, ResourceId, SecretId, SessionId, UserAgentId, UserId, ZoneId,
};
pub use page::{Cursor, Page, PageRequest, PageWindow, Positioned, Sort, SortKey, SortValue};
pub use time::Timestamp;
pub use validation::{FieldError, ValidationErrors};
