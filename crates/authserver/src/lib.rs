//! A zone's authorization server: the protocol runtime behind the zone's
//! OAuth endpoints. `keyzone-oauth` parses and shapes the protocol;
//! this crate decides and issues, through the stores it declares
//! ([`store::TokenStore`]) and core's vault and signing keys.
//!
//! Where things go:
//! - a new grant: a module in [`token`], ending in the issuance pipeline
//!   ([`token::issuance`]);
//! - a policy check: [`policy::IssuancePolicy`], asked once per token by
//!   the pipeline;
//! - a new client-authentication method: [`token::client_auth`];
//! - a new outbound document: [`documents::DocumentCache`].

pub mod cimd;
pub mod delegated;
pub mod documents;
pub mod introspection;
pub mod invitations;
mod lookups;
mod passwords;
pub mod policy;
pub mod registration;
pub mod revocation;
pub mod signin;
pub mod store;
pub mod token;
pub mod userinfo;
pub mod verification;

pub use lookups::LOOKUP_TTL;
pub use token::{Dependencies, TokenService};
