//! The OAuth 2.0 protocol as a zone's authorization server speaks it, one
//! module per concern. No I/O and no web framework: the HTTP layer hands
//! in form pairs and headers, the authorization server (`keyzone-authserver`) decides and issues.

pub mod claims;
pub mod client_auth;
pub mod error;
pub mod metadata;
pub mod registration;
pub mod request;
pub mod upstream;

pub use error::{echo, ErrorCode, OAuthError};
