//! Keyzone's use cases. Each module is one part of the product; the storage
//! interfaces it needs are declared next to it (in [`store`]) and implemented
//! by `keyzone-store`, so this crate never knows which database it runs on.

pub mod auth;
pub mod cache;
pub mod directory;
pub mod error;
pub mod identity;
pub mod mail;
pub mod outbound;
pub mod permissions;
pub mod secrets;
pub mod signing;
pub mod store;
mod update;
pub mod vault;
pub mod zones;

pub use auth::{ApiKeys, Principal};
pub use directory::Directory;
pub use error::CoreError;
pub use identity::Identity;
pub use secrets::Secrets;
pub use signing::SigningKeys;
pub use store::{Constraint, StoreError};
pub use vault::Vault;
pub use zones::{ZoneAction, ZoneScope, Zones};
