//! The one error type of the use-case layer. The HTTP layer maps each variant
//! to a status and a body in exactly one place.

use crate::store::{Constraint, StoreError};
use keyzone_domain::ValidationErrors;

#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error("validation failed: {0}")]
    Validation(ValidationErrors),
    #[error("{entity} not found")]
    NotFound { entity: &'static str },
    #[error("conflict: {}", .0.message())]
    Conflict(Constraint),
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    /// A 409 whose message names what is in the way.
    #[error("in use: {0}")]
    InUse(String),
    #[error("unauthorized")]
    Unauthorized,
    /// A key this request needs cannot be used (a customer KMS key that is
    /// disabled or unreachable). Nothing was changed.
    #[error("encryption key unavailable: {0}")]
    KeyUnavailable(String),
    /// The database could not be reached; worth retrying.
    #[error("storage unavailable")]
    Unavailable(#[source] StoreError),
    #[error("internal error")]
    Internal(#[source] StoreError),
}

impl From<ValidationErrors> for CoreError {
    fn from(e: ValidationErrors) -> Self {
        CoreError::Validation(e)
    }
}

impl From<StoreError> for CoreError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(c) => CoreError::Conflict(c),
            e @ StoreError::Unavailable(_) => CoreError::Unavailable(e),
            e => CoreError::Internal(e),
        }
    }
}

/// An id from a request, parsed once at the use case's door: anything not
/// shaped like an id names nothing, and is answered "not found" without
/// asking the store.
pub fn parse_id<T>(
    s: &str,
    entity: &'static str,
    parse: fn(&str) -> Result<T, keyzone_domain::IdError>,
) -> Result<T, CoreError> {
    parse(s).map_err(|_| CoreError::NotFound { entity })
}
