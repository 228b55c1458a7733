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
    /// `If-Match` named another version of the record than the stored one.
    #[error("precondition failed")]
    PreconditionFailed,
    /// Other writers kept changing the record during every attempt of an
    /// update; nothing was changed and the request may be retried.
    #[error("changed concurrently")]
    Contended,
}

/// How often a read-modify-write is tried while other writers keep
/// winning. Each lost attempt means another write succeeded, so among N
/// concurrent writers of one record none loses more than N − 1 times: 64
/// lets bursts far beyond what one record sees all succeed (a burst of 20
/// once exhausted 16 under load), while a writer that keeps losing still
/// ends with a retryable 503.
pub const UPDATE_ATTEMPTS: usize = 64;

/// An `If-Match` precondition: the version (the record's `updated_at`, its
/// ETag) the caller last saw, or `None` for none given.
pub type IfMatch = Option<keyzone_domain::Timestamp>;

/// The stored version must be the one `If-Match` names.
pub fn check_precondition(
    stored: keyzone_domain::Timestamp,
    expected: IfMatch,
) -> Result<(), CoreError> {
    match expected {
        Some(e) if e != stored => Err(CoreError::PreconditionFailed),
        _ => Ok(()),
    }
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
